"""CPU per process of one `crmreport report` over the demo data, for its critical path.

    python bench/report_cpu_split.py [--data out/demo/data]

On a busy machine the wall time of the report says little; what each process needs says
what a quiet 2-core machine would take: the report process until it sends the PDF's page
to the typesetter and until it has sent the page's last chart (its CPU counts all its
threads: DuckDB's, the import thread, the chart browser's messages, and the HTML and email
written while the charts are drawn), then the typesetter's layout. Runs `report_period` in
this process as the CLI does; the typesetter's and chromium's CPU is their rusage when they
are reaped, both while the PDF is laid out (the browser closes then).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    args = parser.parse_args()
    from crmreport import pipeline
    from crmreport.config import load_campaign, load_report
    from crmreport.report.typeset import Typesetter

    sent: list[float] = []  # CPU of this process (all its threads) when the page is sent
    charted: list[float] = []  # and when the last chart is sent after it
    laid_out: list[float] = []
    lay_out = Typesetter._lay_out

    def timed_lay_out(self: Typesetter, page: Callable[[], str],
                      charts: Mapping[str, Callable[[], bytes]]) -> bytes:
        def timed_page() -> str:
            html = page()
            sent.append(_cpu(resource.RUSAGE_SELF))
            return html

        def timed_chart(chart: Callable[[], bytes]) -> bytes:
            svg = chart()  # waits for its drawing
            charted[:] = [_cpu(resource.RUSAGE_SELF)]
            return svg

        before = _cpu(resource.RUSAGE_CHILDREN)
        pdf = lay_out(self, timed_page, {name: functools.partial(timed_chart, chart)
                                         for name, chart in charts.items()})
        laid_out.append(_cpu(resource.RUSAGE_CHILDREN) - before)
        return pdf

    Typesetter._lay_out = timed_lay_out  # type: ignore[method-assign]
    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=args.data)
    definition = load_report(ROOT / "reports" / "weekly.yaml")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        pipeline.report_period(loaded, definition, out / "reports", "week", None,
                               out / "summary.json", out / "summary.eml")
    wall = time.perf_counter() - start
    main_cpu, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    print(f"load average after:  {os.getloadavg()[0]:.2f}")
    print(f"wall {wall:.2f} s")
    print(f"report process CPU until the page is sent: {sent[0]:.2f} s, until its last "
          f"chart is: {charted[0]:.2f} s, after: {main_cpu - charted[0]:.2f} s")
    # chromium is closed (and reaped) while the PDF is laid out: its CPU counts there
    print(f"typesetter and chromium CPU: {laid_out[0]:.2f} s; other children: "
          f"{children - laid_out[0]:.2f} s")

if __name__ == "__main__":
    main()
