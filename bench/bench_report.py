"""`crmreport report` over the demo data, as the README runs it: wall, CPU and peak memory.

    python bench/bench_report.py                          # this checkout, 3 runs
    python bench/bench_report.py --peer /work/main/src    # and another checkout, alternating

Each run is a fresh process writing report.html, report.pdf, the JSON and the email of the
demo's weekly report (the demo data is generated once into --data when missing; `make demo`
leaves the same in out/demo/data). CPU time is the process's and its waited-for children's
(chromium's and the PDF typesetter's included) user + system time from wait4, which a busy
machine inflates less than the wall time; peak RSS is the largest resident set of the
process or one such child. The load average is printed before and after: on a busy machine
the wall times say little.
``--peer`` puts another source tree first on PYTHONPATH (e.g. the main branch's `src`) with
its own campaigns/demo.yaml beside it; the two alternate run by run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(src: str | None, campaign: Path, data: Path, out: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one `crmreport report` process."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, "-m", "crmreport", "--quiet", "report", str(campaign),
               "--data-dir", str(data), "--definition", str(ROOT / "reports" / "weekly.yaml"),
               "--out", str(out / "reports"), "--period", "week",
               "--json", str(out / "summary.json"), "--email", str(out / "summary.eml")]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _show(name: str, values: list[float], unit: str) -> str:
    return (f"  {name:<10} median {statistics.median(values):7.2f} {unit} "
            f"(range {min(values):.2f}-{max(values):.2f}, {len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", help="another checkout's src folder, measured alternately")
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data",
                        help="demo data folder (generated there when missing)")
    args = parser.parse_args()
    if not (args.data / "orders.csv").exists():
        from crmreport.demo import generate

        generate(args.data, customers=20_000)
    trees: dict[str, tuple[str | None, Path]] = {
        "this checkout": (None, ROOT / "campaigns" / "demo.yaml")}
    if args.peer:
        own = Path(args.peer).resolve().parent / "campaigns" / "demo.yaml"
        trees["peer " + args.peer] = (args.peer, own if own.exists() else
                                      ROOT / "campaigns" / "demo.yaml")
    figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name, (src, campaign) in trees.items():
                figures[name].append(one_run(src, campaign, args.data, Path(tmp) / str(run)))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, runs in figures.items():
        walls, cpus, rss = zip(*runs, strict=True)
        print(f"{name}:")
        print(_show("wall", list(walls), "s"))
        print(_show("CPU", list(cpus), "s"))
        print(_show("peak RSS", list(rss), "MB"))
    if args.peer:
        this, peer = figures.values()
        for index, label in ((0, "wall"), (1, "CPU")):
            ratios = [p[index] / t[index] for t, p in zip(this, peer, strict=True)]
            print(f"peer / this, {label}: median {statistics.median(ratios):.2f}x "
                  f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
