"""The demo flow stage by stage: generate, prepare (ingest..plan), emails, letters, report.

    python bench/bench_demo.py [--customers 20000] [--out bench/.data/demo]

Prints wall time per stage, emails/s and letters/s, the size of report.html and the peak
RSS. Each stage runs once, as `crmreport demo` runs it; repeat the command to see the spread.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from crmreport import pipeline
from crmreport.config import load_campaign, load_report
from crmreport.demo import generate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / ".data" / "demo")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    data = args.out / "data"
    timings: dict[str, float] = {}

    def timed(name: str, func, *a):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = func(*a)
        timings[name] = time.perf_counter() - start
        return result

    timed("generate data", generate, data, args.customers)
    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=data)
    run = timed("ingest .. plan", pipeline.prepare, loaded)
    built = timed("build (emails, letters, csv)", pipeline.build, loaded, args.out)
    definition = load_report(ROOT / "reports" / "weekly.yaml")
    timed("report (html + pdf)", pipeline.report, loaded, definition, args.out)
    for name, seconds in timings.items():
        print(f"{name:<30} {seconds:7.2f} s")
    print(f"{'total':<30} {sum(timings.values()):7.2f} s")
    print(f"customers {run.plan.customers:,}; emails {built.emails:,}; letters {built.letters:,}")
    print(f"report.html {(args.out / 'report.html').stat().st_size / 1e6:.2f} MB; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
