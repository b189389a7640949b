"""`plan` stage by stage: where a campaign's dry run spends its time.

    python bench/bench_plan.py --data /work/bench-data/plan-200k   # demo data, generated once
    python bench/bench_plan.py --data DIR --customers 200000 --repeat 3

Runs ``pipeline.plan`` on the demo campaign over generated demo data (``crmreport demo``'s
generator; made in DIR when it holds no orders.csv) and times each stage as it runs, by
wrapping the stage functions: reading the files, identifying, net orders, RFM, the value
models, the churn model, co-purchases, the features table, rules and the contact plan.
Prints each stage's median and range over --repeat runs and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmreport import features, pipeline
from crmreport.config import load_campaign

ROOT = Path(__file__).resolve().parents[1]
# (module, function name, label), in the order plan runs them.
STAGES = [
    (pipeline, "load_sources", "read files"),
    (pipeline, "identify_tables", "identify (check, persons, account)"),
    (features, "classify_orders", "net orders"),
    (features, "compute_rfm", "RFM"),
    (features, "fit_value_models", "value models (BG/NBD, Gamma-Gamma)"),
    (features, "fit_churn", "churn model"),
    (features, "compute_co_purchase", "co-purchases"),
    (features, "with_btyd", "churn check against BG/NBD"),
    (pipeline, "_plan", "contact plan"),
]
LATE = [("crmreport.rules", "compile_rules", "rules: compile"),
        ("crmreport.rules", "assign", "rules: assign")]


def _timed(func: Callable[..., Any], label: str, seen: dict[str, list[float]]) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            seen[label][-1] += time.perf_counter() - start
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not (args.data / "orders.csv").exists():
        from crmreport.demo import generate

        generate(args.data, customers=args.customers)
    import importlib

    seen: dict[str, list[float]] = defaultdict(list)
    for module, name, label in STAGES:
        setattr(module, name, _timed(getattr(module, name), label, seen))
    for module_name, name, label in LATE:  # prepare imports these when it runs
        module = importlib.import_module(module_name)
        setattr(module, name, _timed(getattr(module, name), label, seen))
    labels = [s[2] for s in STAGES[:-1]] + [s[2] for s in LATE] + [STAGES[-1][2]]
    totals = []
    for _ in range(args.repeat):
        for label in labels:
            seen[label].append(0.0)
        loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=args.data)
        start = time.perf_counter()
        result = pipeline.plan(loaded)
        totals.append(time.perf_counter() - start)
    orders = sum(1 for _ in (args.data / "orders.csv").open(encoding="utf-8")) - 1
    print(f"plan over {result.customers:,} customers, {orders:,} order rows "
          f"({args.repeat} runs, median and range)")
    accounted = 0.0
    for label in labels:
        values = seen[label]
        accounted += statistics.median(values)
        print(f"  {label:<38} {statistics.median(values):7.2f} s "
              f"({min(values):.2f}-{max(values):.2f})")
    total = statistics.median(totals)
    print(f"  {'other (features table, diff, ...)':<38} {total - accounted:7.2f} s")
    print(f"  {'total':<38} {total:7.2f} s ({min(totals):.2f}-{max(totals):.2f})")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
