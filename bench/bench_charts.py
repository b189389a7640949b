"""The demo report's PDF charts drawn in one browser: tabs, and the page kept or reloaded.

    python bench/bench_charts.py [--data out/demo/data] [--runs 3] [--tabs 1 2] [--reload]

Computes the demo's monitoring once, builds its charts, then per run and tab count
(alternating) starts one chart browser, waits until it is open, and times drawing all the
charts: wall time, and the CPU of chromium over its life (its start included; the
children's rusage, counted when it is reaped), median and range. ``--reload`` also measures
each tab count with kaleido's own page handling, which reloads the page after every chart.
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


def _draw_all(figures: dict[str, dict[str, object]], tabs: int,
              reload: bool) -> tuple[float, float]:
    import kaleido

    from crmreport.report import browser

    browser.TABS = tabs
    kept = browser._reusing_pages
    if reload:
        browser._reusing_pages = lambda: kaleido.Kaleido  # type: ignore[assignment]
    with browser.browser():
        browser.drawn(browser.draw({"data": []}, "svg", 100, 100))  # open and warm
        cpu, start = _children_cpu(), time.perf_counter()
        for future in [browser.draw(fig, "svg", 900, 380) for fig in figures.values()]:
            browser.drawn(future)
        wall = time.perf_counter() - start
    browser._reusing_pages = kept  # type: ignore[method-assign]
    return wall, _children_cpu() - cpu  # chromium's CPU counts when it is reaped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reload", action="store_true",
                        help="also with the page reloaded after every chart (kaleido's way)")
    args = parser.parse_args()
    figures = _figures(args.data)
    print(f"{len(figures)} charts; load average before: {os.getloadavg()}")
    ways = [(tabs, reload) for tabs in args.tabs for reload in (False, True)[:1 + args.reload]]
    times: dict[tuple[int, bool], list[tuple[float, float]]] = {way: [] for way in ways}
    for _ in range(args.runs):
        for tabs, reload in ways:
            times[tabs, reload].append(_draw_all(figures, tabs, reload))
    print(f"load average after: {os.getloadavg()}")
    for (tabs, reload), runs in times.items():
        page = "reloaded" if reload else "kept"
        for label, values in zip(("wall", "chromium CPU"), zip(*runs, strict=True),
                                 strict=True):
            print(f"{tabs} tab(s), page {page}, {label}: "
                  f"median {statistics.median(values):.2f} s "
                  f"(range {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
