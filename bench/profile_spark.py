"""Where `crmreport plan` spends its time on Spark: statements by kind, and checkpoints.

    python bench/profile_spark.py --data DIR [--master local[2]]

Runs ``pipeline.plan`` on the demo campaign over DIR (``crmreport demo``'s format) on the
Spark engine in this process, timing every statement the adapter runs (by its kind: CREATE,
INSERT, UPDATE, SELECT, ...), every materialisation (``localCheckpoint``) and the Spark jobs
started, then prints the totals, the slowest statements and the wall time. One run: the
figures show the shape of the cost, not a benchmark (bench_spark.py is that).

It also lists every statement whose Spark plan joins row against row
(``BroadcastNestedLoopJoin``): such a join is quadratic unless one side has a single row.
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path
from typing import Any

from crmreport import pipeline
from crmreport.config import load_campaign, with_engine
from crmreport.engine import spark as adapter

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--top", type=int, default=12, help="how many slowest statements")
    args = parser.parse_args()
    from pyspark.sql import DataFrame

    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    slowest: list[tuple[float, str]] = []
    checkpoints: list[float] = []
    nested: list[str] = []  # statements with a row-against-row join, with the join's line
    current = [""]
    run, checkpoint = adapter.SparkConnection._run, DataFrame.localCheckpoint

    def timed_run(self: adapter.SparkConnection, tree: Any, sql: str) -> None:
        start = time.perf_counter()
        current[0] = " ".join(sql.split())[:110]
        run(self, tree, sql)
        if self._frame is not None:
            # a query is lazy until fetched: count it as fetched
            _note_nested(self._frame, current[0], nested)
            self._rows = iter(self.fetchall())
        seconds = time.perf_counter() - start
        by_kind[tree.key.upper()].append(seconds)
        slowest.append((seconds, " ".join(sql.split())[:110]))

    def timed_checkpoint(self: DataFrame, eager: bool = True) -> DataFrame:
        start = time.perf_counter()
        _note_nested(self, current[0], nested)
        result = checkpoint(self, eager)
        checkpoints.append(time.perf_counter() - start)
        return result

    adapter.SparkConnection._run = timed_run  # type: ignore[method-assign]
    DataFrame.localCheckpoint = timed_checkpoint  # type: ignore[method-assign]
    loaded = with_engine(load_campaign(ROOT / "campaigns" / "demo.yaml", args.data), "spark",
                         args.master)
    session = adapter.session(args.master, {"spark.ui.retainedJobs": "1000000"})
    session.range(1).count()  # the JVM's start, outside the figures
    jobs_before = len(session.sparkContext.statusTracker().getJobIdsForGroup())
    start = time.perf_counter()
    pipeline.plan(loaded)
    wall = time.perf_counter() - start
    jobs = len(session.sparkContext.statusTracker().getJobIdsForGroup()) - jobs_before
    print(f"plan on {args.data}, spark {session.version} {args.master}: {wall:.1f} s wall, "
          f"{sum(map(len, by_kind.values()))} statements, {len(checkpoints)} checkpoints "
          f"({sum(checkpoints):.1f} s), {jobs} Spark jobs")
    for kind, times in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {kind:<8} {len(times):5} statements {sum(times):8.1f} s")
    print("slowest statements:")
    for seconds, sql in sorted(slowest, reverse=True)[: args.top]:
        print(f"  {seconds:7.2f} s  {sql}")
    print(f"row-against-row joins: {len(nested)}")
    for line in nested:
        print(f"  {line}")


def _note_nested(frame: Any, statement: str, nested: list[str]) -> None:
    plan = frame._jdf.queryExecution().executedPlan().toString()
    for line in plan.splitlines():
        if "BroadcastNestedLoopJoin" in line:
            nested.append(f"{statement}\n      {line.strip()[:160]}")


if __name__ == "__main__":
    main()
