"""The read and identify of a data folder alone, with each DuckDB statement's time.

    python bench/profile_identify.py --data /work/bench-data/plan-orders-2000000
    python bench/profile_identify.py --data DIR --statements 20   # the 20 costliest

Runs ``load_sources`` and ``identify_tables`` on the demo campaign's files in DIR and prints
the wall and CPU seconds of each (CPU: the process's, DuckDB's threads included) and the load
average. ``--statements N`` times every statement through a proxy of the connection and
lists the N with the most CPU. One run per process: alternate processes to compare trees
(``PYTHONPATH=<other checkout>/src``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Timed:
    """The connection, with each statement's wall and CPU seconds noted."""

    def __init__(self, con: Any) -> None:
        self._con = con
        self.seen: list[tuple[float, float, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any) -> Any:
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return self._con.execute(sql, *args)
        finally:
            self.seen.append((time.perf_counter() - start, time.process_time() - start_cpu,
                              " ".join(sql.split())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--statements", type=int, default=0, metavar="N")
    args = parser.parse_args()

    from crmreport import pipeline
    from crmreport.config import load_campaign
    from crmreport.engine import connect
    from crmreport.identify import identify_tables
    from crmreport.ingest import load_sources

    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=args.data)
    con: Any = connect(kind="duckdb")
    if args.statements:
        con = Timed(con)
    start, start_cpu = time.perf_counter(), time.process_time()
    read = load_sources(con, pipeline.sources(loaded))
    read_at, read_cpu = time.perf_counter(), time.process_time()
    identify_tables(con, read, loaded.config.currency, match=loaded.config.identity.match)
    end, end_cpu = time.perf_counter(), time.process_time()
    print(f"read {read_at - start:.2f} s, CPU {read_cpu - start_cpu:.2f} s; identify "
          f"{end - read_at:.2f} s, CPU {end_cpu - read_cpu:.2f} s; load {os.getloadavg()[0]:.2f}")
    if args.statements:
        print(f"{len(con.seen)} statements, wall  CPU")
        for wall, cpu, sql in sorted(con.seen, key=lambda s: -s[1])[:args.statements]:
            print(f"  {wall:6.2f} {cpu:6.2f}  {sql[:160]}")


if __name__ == "__main__":
    main()
