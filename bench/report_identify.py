"""The read and identify stages of a real `crmreport report`, with the CPU around them.

    python bench/report_identify.py --data <demo data> --runs 5
    python bench/report_identify.py --data <demo data> --runs 5 --peer <other checkout>/src

Each run is a fresh process running the demo's weekly report as the CLI does (model worker,
chart browser, typesetter and import thread included: they share the 2 cores with the read).
From the start of ``ingest`` to the end of ``identify`` it measures the wall time, the report
process's CPU (all its threads: DuckDB's and the import thread's too), its main thread's
CPU, and the CPU its child processes (the model worker, chromium, the typesetter) used
meanwhile, read from /proc. Median and range per tree, alternating run by run with
``--peer`` (another checkout's ``src``, first on PYTHONPATH), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
FIELDS = ("wall", "cpu", "main", "children", "to_start")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _children_cpu() -> float:
    """CPU seconds of this process's living descendants (utime + stime from /proc)."""
    total = 0
    for pid in _descendants(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


class _Window:
    """A progress reporter noting the figures at the start of ingest and the end of identify."""

    def __init__(self, born: float) -> None:
        self.born = born
        self.marks: dict[str, tuple[float, float, float, float]] = {}

    def _mark(self, name: str) -> None:
        self.marks[name] = (time.perf_counter(), time.process_time(), time.thread_time(),
                            _children_cpu())

    def start(self, name: str, total: int | None) -> None:
        if name == "ingest":
            self._mark("start")

    def advance(self, count: int) -> None:
        pass

    def finish(self, done: object) -> None:
        if getattr(done, "name", "") == "identify":
            self._mark("end")

    def abandon(self) -> None:
        pass

    def figures(self) -> dict[str, float]:
        start, end = self.marks["start"], self.marks["end"]
        spent = [b - a for a, b in zip(start, end, strict=True)]
        return {**dict(zip(FIELDS, spent, strict=False)), "to_start": start[0] - self.born}


def child(data: Path, out: Path, result: Path) -> None:
    born = time.perf_counter()
    from crmreport import pipeline, progress
    from crmreport.config import load_campaign, load_report

    campaign = Path(pipeline.__file__).resolve().parents[2] / "campaigns" / "demo.yaml"
    loaded = load_campaign(campaign if campaign.exists() else ROOT / "campaigns" / "demo.yaml",
                           data)
    definition = load_report(ROOT / "reports" / "weekly.yaml")
    window = _Window(born)
    with progress.reporting(window):
        pipeline.report(loaded, definition, out, period="week")
    result.write_text(json.dumps({**window.figures(), "total": time.perf_counter() - born}))


def one_run(src: str | None, data: Path, out: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src:
        env["PYTHONPATH"] = src
    result = out.with_suffix(".json")
    subprocess.run([sys.executable, __file__, "--child", "--data", str(data), "--out", str(out),
                    "--result", str(result)], env=env, stdout=subprocess.DEVNULL, check=True)
    return json.loads(result.read_text())  # type: ignore[no-any-return]


def _show(name: str, values: list[float]) -> str:
    return (f"  {name:<9} median {statistics.median(values):6.2f} s "
            f"(range {min(values):.2f}-{max(values):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", help="another checkout's src folder, measured alternately")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.data, args.out, args.result)
        return
    trees = {"this checkout": None, **({f"peer {args.peer}": args.peer} if args.peer else {})}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name, src in trees.items():
                runs[name].append(one_run(src, args.data, Path(tmp) / f"{run}-{len(runs[name])}"))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("read + identify: wall, the report process's CPU (all threads), its main thread's, "
          "its children's; when it started; the whole report")
    for name, figures in runs.items():
        print(f"{name}:")
        for field in (*FIELDS, "total"):
            print(_show(field, [f[field] for f in figures]))


if __name__ == "__main__":
    main()
