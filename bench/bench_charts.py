"""The demo report's PDF charts drawn in one browser with 1 tab against several at once.

    python bench/bench_charts.py [--data out/demo/data] [--runs 3] [--tabs 1 4]

Computes the demo's monitoring once, builds its charts, then per run and tab count
(alternating) starts one chart browser, waits until it is open, and times drawing all the
charts: wall time, and the CPU of chromium over its life (its start included; the
children's rusage, counted when it is reaped), median and range.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _figures(data: Path) -> dict[str, dict[str, object]]:
    from crmreport import pipeline
    from crmreport.config import load_campaign, load_report
    from crmreport.report.charts import make_charts
    from crmreport.report.format import Formatter, suppress_small

    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=data)
    definition = load_report(ROOT / "reports" / "weekly.yaml")
    inputs = pipeline.monitor_report(loaded, definition, "week")
    safe = suppress_small(inputs.monitoring, definition.min_cell_size)
    figures = make_charts(safe, definition.branding, Formatter.for_report(inputs.definition))
    return {name: fig.to_dict() for name, fig in figures.items()}


def _draw_all(figures: dict[str, dict[str, object]], tabs: int) -> tuple[float, float]:
    from crmreport.report import browser

    browser.TABS = tabs
    with browser.browser():
        browser.drawn(browser.draw({"data": []}, "svg", 100, 100))  # open and warm
        cpu, start = _children_cpu(), time.perf_counter()
        for future in [browser.draw(fig, "svg", 900, 380) for fig in figures.values()]:
            browser.drawn(future)
        wall = time.perf_counter() - start
    return wall, _children_cpu() - cpu  # chromium's CPU counts when it is reaped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    figures = _figures(args.data)
    print(f"{len(figures)} charts; load average before: {os.getloadavg()}")
    times: dict[int, list[tuple[float, float]]] = {tabs: [] for tabs in args.tabs}
    for _ in range(args.runs):
        for tabs in args.tabs:
            times[tabs].append(_draw_all(figures, tabs))
    print(f"load average after: {os.getloadavg()}")
    for tabs, runs in times.items():
        for label, values in zip(("wall", "chromium CPU"), zip(*runs, strict=True),
                                 strict=True):
            print(f"{tabs} tab(s), {label}: median {statistics.median(values):.2f} s "
                  f"(range {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
