"""The chart browser's start with plotly's full bundle against the cartesian one.

    python bench/bench_chart_browser.py --runs 3

Each run is a fresh process that opens the report's chart browser with one bundle and draws
one bar chart; it prints the wall time to that drawing and the CPU time (user + system) its
child processes (chromium's) used by then, from /proc. The two bundles alternate run by run;
median and range of each. Needs the cartesian bundle installed (`make` does it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = """
import json, os, sys, time
from pathlib import Path
from crmreport.report import plotly_bundle
from crmreport.report.browser import browser, draw, drawn

def children_cpu() -> float:
    tick, parents, cpu = os.sysconf("SC_CLK_TCK"), {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(pid)] = int(fields[1])
        cpu[int(pid)] = sum(int(f) for f in fields[11:15]) / tick
    def below(pid: int) -> float:
        return sum(cpu[c] + below(c) for c, p in parents.items() if p == pid)
    return below(os.getpid())

script = Path(sys.argv[1])
plotly_bundle.chart_script = lambda: script
start = time.perf_counter()
with browser():
    figure = {"data": [{"type": "bar", "x": [1, 2, 3], "y": [3, 1, 2]}], "layout": {}}
    drawn(draw(figure, "svg", 600, 400))
    print(json.dumps([time.perf_counter() - start, children_cpu()]))
"""


def one_run(script: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, script], check=True,
                         capture_output=True, text=True).stdout
    wall, cpu = json.loads(out.strip().splitlines()[-1])
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from crmreport.report.plotly_bundle import chart_script, full_bundle

    bundles = {"full": str(full_bundle()), "cartesian": str(chart_script())}
    if bundles["cartesian"] == bundles["full"]:
        raise SystemExit("the cartesian bundle is not installed (run make)")
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in bundles}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _ in range(args.runs):
        for name, script in bundles.items():
            figures[name].append(one_run(script))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, runs in figures.items():
        for label, values in zip(("first chart, wall", "chromium's CPU"), zip(*runs, strict=True),
                                 strict=True):
            print(f"  {name:<9} {label:<17} median {statistics.median(values):5.2f} s "
                  f"(range {min(values):.2f}-{max(values):.2f}, {len(values)} runs)")


if __name__ == "__main__":
    main()
