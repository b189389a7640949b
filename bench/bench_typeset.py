"""The PDF typesetter alone: the demo report's page and chart SVGs laid out and drawn by
WeasyPrint, CPU time after the page arrives, this checkout against a peer.

    python bench/bench_typeset.py --data <demo data> --runs 5 --peer /work/main/src
    python bench/bench_typeset.py --data <demo data> --runs 5 --peer /work/main/src \
        --charts-after 1.0


Each tree first writes the demo's weekly report once, and what its report process sends to
the typesetter (the page and the 9 charts' SVGs) is kept. Then each page is laid out
(``render``) and drawn (``write_pdf``) in a fresh process, the trees alternating run by run,
with the WeasyPrint of this environment: what differs is only what each tree gives it. The
process warms up as the typesetter does while it waits for the page. CPU time (user +
system, this process only) and peak RSS from getrusage; load average before and after.

With ``--charts-after SECONDS``, each tree's own typesetter process (``python -m
crmreport.report.typeset``) is sent its tree's frames as its report sent them, the charts
SECONDS after the page (the demo report's charts came about 1 s after its page), once the
process is idle (WeasyPrint imported); measured: the wall time from the page's sending to
the PDF's end, and the process's CPU time meanwhile (from /proc and wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# run in a tree's report process: the typesetter's frames kept as they are sent
_CAPTURE = """
import atexit, pickle, sys
from crmreport.report import typeset
frames = {}
send = typeset._send
def keep(stream, name, data):
    frames[name] = data
    send(stream, name, data)
typeset._send = keep
kept = sys.argv[1]
atexit.register(lambda: pickle.dump(frames, open(kept, "wb")))
from crmreport.cli import main
sys.argv = ["crmreport", "--quiet", "report", sys.argv[2], "--data-dir", sys.argv[3],
            "--definition", sys.argv[4], "--out", sys.argv[5], "--period", "week"]
main()
"""


def capture(src: str | None, campaign: Path, data: Path, into: Path) -> Path:
    """The frames one tree's report sends to its typesetter, pickled into ``into``."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src:
        env["PYTHONPATH"] = src
    frames = into / "frames.pkl"
    subprocess.run([sys.executable, "-c", _CAPTURE, str(frames), str(campaign), str(data),
                    str(ROOT / "reports" / "weekly.yaml"), str(into / "reports")],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return frames


def lay_out(frames_path: Path) -> dict[str, float]:
    """Lay out and draw the captured page here (run in a fresh process)."""
    import weasyprint
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    frames: dict[str, bytes] = pickle.loads(frames_path.read_bytes())

    class Charts(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("chart:"):
                return super().fetch(url, headers)
            return URLFetcherResponse(url, frames[url.removeprefix("chart:")],
                                      {"Content-Type": "image/svg+xml"})

    weasyprint.HTML(string="<p>1,234.50 <b>x</b></p>").render()  # as the typesetter does
    start = time.process_time()
    document = weasyprint.HTML(string=frames["page"].decode("utf-8"),
                               url_fetcher=Charts()).render()
    laid_out = time.process_time()
    pdf = document.write_pdf()
    drawn = time.process_time()
    return {"render": laid_out - start, "write": drawn - laid_out, "total": drawn - start,
            "pages": len(document.pages), "bytes": len(pdf),
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def replay(src: str | None, frames_path: Path, charts_after: float) -> dict[str, float]:
    """One typesetter of the tree ``src`` sent ``frames_path``'s frames, the charts
    ``charts_after`` seconds after the page."""
    from crmreport.report.typeset import _send

    frames: dict[str, bytes] = pickle.loads(frames_path.read_bytes())  # in the order sent
    env = dict(os.environ, PYTHONWARNINGS="ignore", **({"PYTHONPATH": src} if src else {}))
    process = subprocess.Popen([sys.executable, "-m", "crmreport.report.typeset"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert process.stdin is not None and process.stdout is not None
    idle = _idle_cpu(process.pid)
    start = time.perf_counter()
    names = list(frames)
    for name in names[:names.index("page") + 1]:  # the page, and the sizes before it
        _send(process.stdin, name, frames[name])
    time.sleep(charts_after)
    for name in names[names.index("page") + 1:]:
        _send(process.stdin, name, frames[name])
    process.stdin.close()
    pdf = process.stdout.read()
    wall = time.perf_counter() - start
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) or not pdf.startswith(b"%PDF"):
        raise SystemExit(f"the typesetter of {src or 'this checkout'} failed")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime - idle, "bytes": len(pdf)}


def _idle_cpu(pid: int) -> float:
    """The CPU seconds of process ``pid`` once it stops using any (it waits for its page)."""
    ticks = os.sysconf("SC_CLK_TCK")
    last = -1.0
    while True:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if used == last:
            return used
        last = used
        time.sleep(0.5)


def _show(name: str, values: list[float], unit: str) -> str:
    return (f"  {name:<8} median {statistics.median(values):6.2f} {unit} "
            f"(range {min(values):.2f}-{max(values):.2f}, {len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peer", help="another checkout's src folder, measured alternately")
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    parser.add_argument("--charts-after", type=float,
                        help="replay to each tree's typesetter, the charts this many seconds "
                             "after the page")
    parser.add_argument("--lay-out", type=Path, help=argparse.SUPPRESS)  # one run's child
    args = parser.parse_args()
    if args.lay_out:
        print(json.dumps(lay_out(args.lay_out)))
        return
    trees: dict[str, tuple[str | None, Path]] = {
        "this checkout": (None, ROOT / "campaigns" / "demo.yaml")}
    if args.peer:
        own = Path(args.peer).resolve().parent / "campaigns" / "demo.yaml"
        trees["peer " + args.peer] = (args.peer, own if own.exists() else
                                      ROOT / "campaigns" / "demo.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        pages = {}
        for number, (name, (src, campaign)) in enumerate(trees.items()):
            (Path(tmp) / str(number)).mkdir()
            pages[name] = capture(src, campaign, args.data.resolve(), Path(tmp) / str(number))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, frames in pages.items():
                if args.charts_after is not None:
                    runs[name].append(replay(trees[name][0], frames, args.charts_after))
                    continue
                out = subprocess.run([sys.executable, __file__, "--lay-out", str(frames)],
                                     check=True, capture_output=True, text=True).stdout
                runs[name].append(json.loads(out.splitlines()[-1]))
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    shown = (("wall", "s"), ("cpu", "s")) if args.charts_after is not None else (
        ("total", "s"), ("render", "s"), ("write", "s"), ("rss", "MB"))
    for name, results in runs.items():
        pages_laid_out = f"{results[0]['pages']:.0f} pages, " if "pages" in results[0] else ""
        print(f"{name}: {pages_laid_out}{results[0]['bytes']:.0f} bytes")
        for key, unit in shown:
            print(_show(key, [result[key] for result in results], unit))
    if args.peer:
        this, peer = (runs[name] for name in trees)
        key = shown[0][0]
        ratios = [p[key] / t[key] for t, p in zip(this, peer, strict=True)]
        print(f"peer / this, {key}: median {statistics.median(ratios):.2f}x "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
