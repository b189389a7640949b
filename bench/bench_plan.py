"""`plan` against its peers, its growth with the data, and stage by stage.

    python bench/bench_plan.py --generate --orders 20000000 --out DIR [--parquet]
    python bench/bench_plan.py --peers --data DIR [--format parquet] --repeat 3
    python bench/bench_plan.py --curve DIR [DIR ...] --repeat 3
    python bench/bench_plan.py --data /work/bench-data/plan-200k   # stage by stage

``--generate`` writes a large data folder (plan_data.py). ``--peers`` runs, alternately and
each in a fresh process, the hand-written DuckDB job, the same job reading the other tables
plan reads, the pandas script (plan_peers.py), crmreport's ``plan`` on the demo campaign
without and with the value models; it prints each one's wall time (median and range,
process start included) and peak RSS (the child's ru_maxrss from wait4), the ratios to the
DuckDB job, and checks that all of them count the
same customers in each segment. ``--curve`` runs the DuckDB job and both plans on each folder
and prints seconds per million orders.

Stage by stage (the default):
Runs ``pipeline.plan`` on the demo campaign over generated demo data (``crmreport demo``'s
generator; made in DIR when it holds no orders.csv) and times each stage as it runs, by
wrapping the stage functions: reading the files, identifying, net orders, RFM, the value
models, the churn model, co-purchases, the features table, rules and the contact plan.
Prints each stage's median and range over --repeat runs, its CPU seconds (all the process's
threads) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# (module, function name, label), in the order plan runs them.
STAGES = [
    ("pipeline", "load_sources", "read files"),
    ("features", "classify_orders", "net orders"),
    ("features", "compute_rfm", "RFM"),
    ("features", "compute_co_purchase", "co-purchases"),
    ("features", "fit_churn", "churn model"),
    ("features", "with_btyd", "churn check against BG/NBD"),
    ("pipeline", "_plan", "contact plan"),
]
# The value models' block: its queries as it begins, and the fits when their result is taken,
# after the churn model (fitted meanwhile in the model worker, beside the churn model).
FITTING = ("value models: queries", "value models: fits")
LATE = [("crmreport.identify", "identify_tables", "identify (check, persons, account)"),
        ("crmreport.rules", "compile_rules", "rules: compile"),
        ("crmreport.rules", "assign", "rules: assign")]


def _timed(func: Callable[..., Any], label: str, seen: dict[str, list[float]],
           cpu: dict[str, list[float]]) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            seen[label][-1] += time.perf_counter() - start
            cpu[label][-1] += time.process_time() - start_cpu
    return wrapper


def _timed_fitting(fitting: Callable[..., Any], seen: dict[str, list[float]],
                   cpu: dict[str, list[float]]) -> Any:
    """``features.fitting_value_models`` with its two ends timed (see ``FITTING``)."""
    @contextlib.contextmanager
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Callable[[], Any]]:
        with contextlib.ExitStack() as stack:
            begin = _timed(stack.enter_context, FITTING[0], seen, cpu)
            yield _timed(begin(fitting(*args, **kwargs)), FITTING[1], seen, cpu)
    return wrapper


PEERS = ("duckdb", "duckdb-all", "pandas", "plan-novalue", "plan")


def run_peer(kind: str, data: Path, fmt: str) -> tuple[float, float, dict[str, int]]:
    """Wall seconds, peak RSS in MB and segment counts of one peer in a fresh process."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(ROOT / "bench" / "plan_peers.py"), kind,
                              str(data), fmt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{kind} on {data} failed ({child.returncode})")
    return elapsed, usage.ru_maxrss / 1024, json.loads(out)


def _orders(data: Path) -> int:
    with (data / "orders.csv").open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b"")) - 1


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def peers(data: Path, fmt: str, repeat: int, kinds: tuple[str, ...] = PEERS) -> dict[str, Any]:
    """Each peer ``repeat`` times, alternating; their times, peaks and segment counts."""
    times: dict[str, list[float]] = defaultdict(list)
    peaks: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = {}
    for run in range(repeat):
        for kind in kinds:
            seconds, peak, counts[kind] = run_peer(kind, data, fmt)
            times[kind].append(seconds)
            peaks[kind].append(peak)
            print(f"    run {run + 1} {kind}: {seconds:.2f} s, peak {peak:.0f} MB, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    if len({json.dumps(c, sort_keys=True) for c in counts.values()}) > 1:
        raise SystemExit(f"the peers disagree on the segments: {counts}")
    return {"times": times, "peaks": peaks, "segments": counts[kinds[0]]}


def print_peers(data: Path, fmt: str, repeat: int) -> None:
    found = peers(data, fmt, repeat)
    times, peaks = found["times"], found["peaks"]
    print(f"{data} ({fmt}): {_orders(data):,} orders; {repeat} alternating runs each, "
          f"median (range); load {os.getloadavg()[0]:.1f}")
    print(f"segments (all agree): {found['segments']}")
    base_time, base_peak = statistics.median(times["duckdb"]), statistics.median(peaks["duckdb"])
    for kind in PEERS:
        seconds, peak = statistics.median(times[kind]), statistics.median(peaks[kind])
        print(f"  {kind:<13} {_spread(times[kind])} s  {seconds / base_time:5.2f}x   "
              f"peak {peak:6.0f} MB {peak / base_peak:5.2f}x")


def print_curve(folders: list[Path], repeat: int) -> None:
    kinds = ("duckdb", "plan-novalue", "plan")
    print(f"{'orders':>12} " + " ".join(f"{k + ' s':>15} {'s/M':>6}" for k in kinds)
          + f"   ({repeat} alternating runs, median)")
    for data in sorted(folders, key=_orders):
        times = peers(data, "csv", repeat, kinds)["times"]
        millions = _orders(data) / 1e6
        print(f"{millions * 1e6:12,.0f} " + " ".join(
            f"{statistics.median(times[k]):15.2f} {statistics.median(times[k]) / millions:6.2f}"
            for k in kinds) + f"   load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--customers", type=int, default=200_000,
                        help="stage by stage: demo customers when --data holds no data")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--generate", action="store_true",
                        help="write a data folder of --orders orders to --out (plan_data.py)")
    parser.add_argument("--orders", type=int, default=20_000_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--parquet", action="store_true", help="with --generate: .parquet too")
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--curve", type=Path, nargs="+", metavar="DIR")
    args = parser.parse_args()
    if args.generate:
        if args.out is None:
            parser.error("--generate needs --out DIR")
        from plan_data import generate

        start = time.perf_counter()
        generate(args.out, args.orders, args.parquet)
        print(f"{args.out}: {args.orders:,} orders in {time.perf_counter() - start:.1f} s")
    elif args.curve:
        print_curve(args.curve, args.repeat)
    elif args.data is None:
        parser.error("--data DIR (or --generate, --curve)")
    elif args.peers:
        print_peers(args.data, args.format, args.repeat)
    else:
        stages(args.data, args.customers, args.repeat)


def stages(data: Path, customers: int, repeat: int) -> None:
    """Each stage of ``pipeline.plan`` timed in this process (demo data made if missing)."""
    from crmreport import features, pipeline
    from crmreport.config import load_campaign

    if not (data / "orders.csv").exists():
        from crmreport.demo import generate

        generate(data, customers=customers)
    import importlib

    seen: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)  # all the process's threads: DuckDB's too
    stage_list = [(pipeline if m == "pipeline" else features, n, label) for m, n, label in STAGES]
    for module, name, label in stage_list:
        setattr(module, name, _timed(getattr(module, name), label, seen, cpu))
    features.fitting_value_models = _timed_fitting(  # type: ignore[attr-defined]
        features.fitting_value_models, seen, cpu)
    for module_name, name, label in LATE:  # prepare imports these when it runs
        module = importlib.import_module(module_name)
        setattr(module, name, _timed(getattr(module, name), label, seen, cpu))
    labels = ([STAGES[0][2], LATE[0][2]] + [s[2] for s in STAGES[1:4]] + [FITTING[0]]
              + [STAGES[4][2], FITTING[1]] + [s[2] for s in STAGES[5:-1]]
              + [s[2] for s in LATE[1:]] + [STAGES[-1][2]])
    totals, cpu_totals = [], []
    for _ in range(repeat):
        for label in labels:
            seen[label].append(0.0)
            cpu[label].append(0.0)
        loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=data)
        start, start_cpu = time.perf_counter(), time.process_time()
        result = pipeline.plan(loaded)
        totals.append(time.perf_counter() - start)
        cpu_totals.append(time.process_time() - start_cpu)
    orders = _orders(data)
    print(f"plan over {result.customers:,} customers, {orders:,} order rows "
          f"({repeat} runs, median and range; CPU: the process's seconds, median)")
    accounted = accounted_cpu = 0.0
    for label in labels:
        values = seen[label]
        accounted += statistics.median(values)
        accounted_cpu += statistics.median(cpu[label])
        print(f"  {label:<38} {statistics.median(values):7.2f} s "
              f"({min(values):.2f}-{max(values):.2f})  CPU {statistics.median(cpu[label]):6.2f} s")
    total, total_cpu = statistics.median(totals), statistics.median(cpu_totals)
    print(f"  {'other (features table, diff, ...)':<38} {total - accounted:7.2f} s"
          f"{'':14}CPU {total_cpu - accounted_cpu:6.2f} s")
    print(f"  {'total':<38} {total:7.2f} s ({min(totals):.2f}-{max(totals):.2f})  "
          f"CPU {total_cpu:6.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
