"""The report's steps from the model fits to the PDF's page, each timed once in a fresh process.

    python bench/report_steps.py --data <demo data>                 # this checkout
    python bench/report_steps.py --data <demo data> --peer <src>    # and another, alternating

Each run prepares the demo campaign (read, identify, features, fits: not timed), then times the
first call of each step, as a report makes it: the previous period's segments, the period
summary, collect, the page (suppression, names, context, template) and the 9 figures. CPU is
the process's (every thread's) from ``time.process_time``, which a busy machine inflates less
than the wall time; both are printed, median and range, with the load average. The steps run
one after another here; the report runs the period summary beside collect.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("previous_segments", "period_summary", "collect", "page", "figures")


def one_run(data: Path) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds of each step, in this process."""
    from crmreport import pipeline
    from crmreport.config import load_campaign, load_report

    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data)
    definition = load_report(ROOT / "reports" / "weekly.yaml").model_copy(
        update={"currency": loaded.config.currency})
    run = pipeline.prepare(loaded, contact_plan=False, preload=pipeline.REPORT_MODULES)
    from crmreport.monitor import collect
    from crmreport.monitor.periods import period_summary
    from crmreport.report import pdf
    from crmreport.report.charts import chart_makers
    from crmreport.report.format import Formatter, suppress_small
    from crmreport.report.html import page_context
    from crmreport.report.names import with_names

    config = loaded.config
    costs = {name: getattr(config.channels, name).cost
             for name in ("email", "letter") if getattr(config.channels, name)}
    previous = config.as_of - dt.timedelta(days=91)
    window = config.response.window_days
    times: dict[str, tuple[float, float]] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = step()
        times[name] = (time.process_time() - cpu, time.perf_counter() - wall)
        return result

    timed("previous_segments", lambda: pipeline.previous_segments(run, previous))
    summary = timed("period_summary", lambda: period_summary(
        run.con, definition.period, config.as_of, window, costs))
    monitoring = timed("collect", lambda: collect(
        run.con, config.as_of, window, costs, run.account, definition.cohort_months,
        run.value, run.featured.churn, config.response.margin, config.response.pre_days,
        previous))
    summary = dataclasses.replace(summary, equity=monitoring.value.equity)

    def page() -> Any:
        safe = with_names(suppress_small(monitoring, definition.min_cell_size), {},
                          definition.language)
        makers = chart_makers(safe, definition.branding, Formatter.for_report(definition))
        context = page_context(safe, definition, {}, None, summary)
        pdf.pdf_page(safe, definition, None, None, summary,
                     {name: "chart:" + name for name in makers}, context)
        return makers

    makers = timed("page", page)
    timed("figures", lambda: [make() for make in makers.values()])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peer", help="another checkout's src folder, measured alternately")
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.data)))
        return
    trees = {"this checkout": None, **({f"peer {args.peer}": args.peer} if args.peer else {})}
    runs: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for _ in range(args.runs):
        for name, src in trees.items():
            env = dict(os.environ, PYTHONWARNINGS="ignore",
                       **({"PYTHONPATH": src} if src else {}))
            out = subprocess.run([sys.executable, __file__, "--one", "--data", str(args.data)],
                                 env=env, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out.splitlines()[-1]))
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, measured in runs.items():
        print(name)
        for step in STEPS:
            for i, kind in enumerate(("CPU", "wall")):
                values = [run[step][i] for run in measured]
                print(f"  {step:<18} {kind:<4} median {statistics.median(values):5.2f} s "
                      f"(range {min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
