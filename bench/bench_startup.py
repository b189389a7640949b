"""Start-up: `crmreport --help`, and `check` up to the moment it opens its first data file.

    python bench/bench_startup.py                          # this checkout, 7 runs each
    python bench/bench_startup.py --peer /work/main/src    # and another checkout, alternating

Each figure is the wall time of a fresh process (the median and range over --runs), so it
includes the interpreter's own start. For `check`, the child wraps
``crmreport.ingest.load_sources`` to note the time and exit there: the figure is the time
from starting the process to reading the first file. It then lists the heavy libraries the
command had imported by then. ``--peer`` puts another source tree first on PYTHONPATH
(e.g. the main branch's `src`), and the two alternate run by run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "scipy", "sklearn", "plotly", "weasyprint", "duckdb", "pyarrow",
         "jinja2", "babel", "pydantic", "yaml")

# Runs `crmreport check` in the child, stopping when the first file is about to be read.
CHECK_CHILD = """
import json, sys, time, os
import crmreport.ingest as ingest
def stop(*args, **kwargs):
    heavy = [m for m in sys.argv[3].split(",") if m in sys.modules]
    print(json.dumps({"at": time.time(), "heavy": heavy}), flush=True)
    os._exit(0)
ingest.load_sources = stop
from crmreport.cli import main
main(["check", sys.argv[1], "--data-dir", sys.argv[2]])
"""


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if src:
        env["PYTHONPATH"] = src
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def help_time(src: str | None) -> tuple[float, float]:
    """Wall and CPU seconds of `crmreport --help` (CPU time suffers less from a busy machine)."""
    cpu, start = _cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "crmreport", "--help"], env=_env(src), check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, _cpu() - cpu


def check_time(src: str | None, campaign: Path, data: Path) -> tuple[float, float, list[str]]:
    """Wall seconds from start to the first file read, the child's CPU seconds, its imports."""
    cpu, start = _cpu(), time.time()
    out = subprocess.run([sys.executable, "-c", CHECK_CHILD, str(campaign), str(data),
                          ",".join(HEAVY)],
                         env=_env(src), check=True, capture_output=True, text=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    return seen["at"] - start, _cpu() - cpu, seen["heavy"]


def _show(name: str, values: list[float]) -> str:
    return (f"{name:<34} median {statistics.median(values):.3f} s "
            f"(range {min(values):.3f}-{max(values):.3f}, {len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--peer", help="another checkout's src folder, measured alternately")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data" / "startup",
                        help="demo data folder (generated there once when missing)")
    args = parser.parse_args()
    if not (args.data / "orders.csv").exists():
        from crmreport.demo import generate

        generate(args.data, customers=2000)
    campaign = ROOT / "campaigns" / "demo.yaml"
    trees: dict[str, str | None] = {"this checkout": None}
    if args.peer:
        trees["peer " + args.peer] = args.peer
    helps: dict[str, list[float]] = {k: [] for k in trees}
    help_cpu: dict[str, list[float]] = {k: [] for k in trees}
    checks: dict[str, list[float]] = {k: [] for k in trees}
    check_cpu: dict[str, list[float]] = {k: [] for k in trees}
    heavy: dict[str, list[str]] = {}
    for _ in range(args.runs):
        for name, src in trees.items():
            wall, cpu = help_time(src)
            helps[name].append(wall)
            help_cpu[name].append(cpu)
            seconds, cpu, heavy[name] = check_time(src, campaign, args.data)
            checks[name].append(seconds)
            check_cpu[name].append(cpu)
    bare = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    print(_show("python -c pass", bare))
    for name in trees:
        print(f"{name}:")
        print("  " + _show("crmreport --help", helps[name]))
        print("  " + _show("crmreport --help, CPU time", help_cpu[name]))
        print("  " + _show("check: start to first file read", checks[name]))
        print("  " + _show("check: the same, CPU time", check_cpu[name]))
        print(f"  imported by then: {', '.join(heavy[name]) or 'none of ' + ', '.join(HEAVY)}")
    if args.peer:
        this, peer = trees
        for label, table in (("--help", helps), ("--help CPU", help_cpu),
                             ("check to first read", checks),
                             ("check to first read CPU", check_cpu)):
            ratios = [p / t for t, p in zip(table[this], table[peer], strict=True)]
            print(f"peer / this, {label}: median {statistics.median(ratios):.1f}x "
                  f"(range {min(ratios):.1f}-{max(ratios):.1f})")


if __name__ == "__main__":
    main()
