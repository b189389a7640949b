"""Ingest + identify of a large orders CSV against DuckDB's own plain read_csv of the same file.

    python bench/bench_ingest.py                # 20M rows (1.69 GB in bench/.data/)
    python bench/bench_ingest.py --rows 2000000 --repeat 5
    python bench/bench_ingest.py --dirty last   # the typed lane's worst case (see below)

The file is generated once with DuckDB COPY (deterministic) and kept in bench/.data/
(git-ignored). Both run in this process on fresh connections with the same settings,
alternately, ``--repeat`` times each; the best time of each is compared (the machine is
shared, single runs vary by +-20%). The baseline is ``CREATE TABLE t AS SELECT * FROM
read_csv(file)`` (typed auto-detection), and the same read given the buffer size crmreport's
reader gives DuckDB (which DuckDB 2.0 reads with less CPU). crmreport is ``load_sources`` +
``identify_tables`` (sniffing, mapping, reading and checking every row, the duplicate-key check,
checks against other tables, the account). The generated file is clean, so identify's typed
lane reads it; ``--dirty first|last`` adds one row staging must change (status ``Paid``): the
lane stops at it and the file is staged; ``last`` is its worst case, a whole file read for
nothing. ``--layout`` writes the rows under other headers: ``explicit`` (all columns, read
with the campaign's own column mapping) or ``de-erp`` (the German ERP preset's: ';', decimal
commas, 31.12.2024; it has no timestamp or currency column), and says whether the typed lane
read the file. DuckDB's plain read then reads that file as it comes (de-erp's amounts and
dates as text), so the ratio compares less than like for like.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crmreport.engine import connect  # noqa: E402
from crmreport.identify import identify_tables, lane, staging  # noqa: E402
from crmreport.ingest import SourceFile, load_sources  # noqa: E402
from crmreport.ingest.readers import BUFFER  # noqa: E402
from profile_identify import Timed  # noqa: E402  (bench/ is the script's folder)

# file column -> canonical column, for --layout explicit: a mapping given in the campaign
EXPLICIT = {"Order No": "order_id", "Customer No": "customer_id", "Ordered At": "ordered_at",
            "Order Day": "order_date", "Total": "amount", "Currency Code": "currency",
            "Order Status": "status", "Sales Channel": "channel"}
# the German ERP preset's headers, and how each value is written in such an export
DE_ERP = {"Belegnummer": "order_id", "Kundennummer": "customer_id",
          "Belegdatum": "strftime(order_date::DATE, '%d.%m.%Y')",
          "Betrag": "replace(amount::VARCHAR, '.', ',')", "Status": "status",
          "Kanal": "channel"}


def laid_out(path: Path, layout: str) -> tuple[Path, str | dict[str, str]]:
    """The file under ``layout``'s headers (written once beside it) and its mapping."""
    if layout == "canonical":
        return path, "crmreport"
    out = path.with_name(f"{path.stem}_{layout}.csv")
    columns = EXPLICIT if layout == "explicit" else DE_ERP
    if not out.exists():
        select = ", ".join(f'{sql} AS "{name}"' for name, sql in columns.items())
        delimiter = ";" if layout == "de-erp" else ","
        tmp = out.with_suffix(".tmp")
        connect().execute(f"COPY (SELECT {select} FROM read_csv('{path}', all_varchar = true)) "
                          f"TO '{tmp}' (HEADER, DELIMITER '{delimiter}')")
        tmp.rename(out)
    if layout == "explicit":
        return out, {canonical: name for name, canonical in EXPLICIT.items()}
    return out, "de-erp"


def generate(path: Path, rows: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect()
    tmp = path.with_suffix(".tmp")
    con.execute(f"""COPY (
        SELECT 'O' || lpad(i::VARCHAR, 9, '0') AS order_id,
               CASE WHEN i % 50 = 0 THEN NULL ELSE 'C' || lpad((hash(i) % 1000000)::VARCHAR, 7,
                    '0') END AS customer_id,
               strftime(TIMESTAMP '2022-01-01' + to_seconds((hash(i * 7) % 94608000)::BIGINT),
                        '%Y-%m-%dT%H:%M:%S') || '+01:00' AS ordered_at,
               strftime(TIMESTAMP '2022-01-01' + to_seconds((hash(i * 7) % 94608000)::BIGINT),
                        '%Y-%m-%d') AS order_date,
               ((hash(i * 13) % 50000) / 100.0 + 1)::DECIMAL(10,2) AS amount,
               'EUR' AS currency,
               CASE WHEN i % 40 = 0 THEN 'cancelled' WHEN i % 97 = 0 THEN 'refunded'
                    ELSE 'completed' END AS status,
               CASE WHEN i % 5 = 0 THEN 'store' ELSE 'online' END AS channel
        FROM range({rows}) t(i)) TO '{tmp}' (HEADER, DELIMITER ',')""")
    tmp.rename(path)


def dirtied(path: Path, where: str) -> Path:
    """A copy of the file with one row the typed lane cannot take, first or last."""
    dirty = path.with_name(f"{path.stem}_dirty_{where}.csv")
    if dirty.exists():
        return dirty
    # an id that keeps the ids rising, so the key check stays the one-pass kind
    order_id = b"A000000000" if where == "first" else b"O999999999"
    row = order_id + b",C0000001,,2024-01-01,1.00,EUR,Paid,online\n"
    tmp = dirty.with_suffix(".tmp")
    with path.open("rb") as src, tmp.open("wb") as out:
        header = src.readline()
        out.write(header + (row if where == "first" else b""))
        shutil.copyfileobj(src, out, 1 << 24)
        out.write(row if where == "last" else b"")
    tmp.rename(dirty)
    return dirty


def plain(path: Path, tuned: bool = False) -> tuple[float, int]:
    """DuckDB's own typed read, as it comes or given crmreport's buffer size."""
    con = connect()
    buffer = f", buffer_size = {BUFFER}" if tuned else ""
    start = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv(?{buffer})", [str(path)])
    elapsed = time.perf_counter() - start
    return elapsed, con.execute("SELECT count(*) FROM t").fetchall()[0][0]


LANE: list[bool] = []  # whether the typed lane read the orders file, per run


def _noted(settle: Any) -> Any:
    def noting(con: Any, sources: Any, spec: Any, how: Any) -> bool:
        taken = bool(settle(con, sources, spec, how))
        if spec.table == "orders":
            LANE.append(taken)
        return taken
    return noting


def _lane_taken() -> str:
    return "taken" if LANE and all(LANE) else "not taken" if not any(LANE) else str(LANE)


def ours(path: Path, mapping: str | dict[str, str] = "crmreport",
         con: Any = None) -> tuple[float, int, dict[str, float]]:
    con = con or connect()
    steps: dict[str, float] = {}
    start = time.perf_counter()
    staged = load_sources(con, [SourceFile("orders", path, mapping)])
    steps["ingest"] = time.perf_counter() - start
    identify_tables(con, staged, "EUR")
    elapsed = time.perf_counter() - start
    steps["identify"] = elapsed - steps["ingest"]
    entry = staged.account.files[0]
    assert entry.balanced, entry.as_dict()
    return elapsed, con.execute("SELECT count(*) FROM orders").fetchall()[0][0], steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dirty", choices=("first", "last"),
                        help="add a row the typed lane cannot take (last: its worst case)")
    parser.add_argument("--layout", choices=("canonical", "explicit", "de-erp"),
                        default="canonical", help="the same rows under other headers")
    parser.add_argument("--profile", action="store_true",
                        help="also print crmreport's slowest statements (one more run)")
    args = parser.parse_args()
    staging.settle = _noted(lane.settle)  # type: ignore[attr-defined]
    path = ROOT / "bench" / ".data" / f"orders_{args.rows}.csv"
    start = time.perf_counter()
    generate(path, args.rows)
    if args.dirty:
        path = dirtied(path, args.dirty)
    path, mapping = laid_out(path, args.layout)
    print(f"file: {path} ({path.stat().st_size / 1e9:.2f} GB, {args.rows:,} rows; "
          f"ready in {time.perf_counter() - start:.1f} s)")
    bases, tuned, runs = [], [], []
    for _ in range(args.repeat):
        bases.append(plain(path))
        tuned.append(plain(path, tuned=True))
        runs.append(ours(path, mapping))
    base, base_rows = min(bases)
    total, rows, steps = min(runs, key=lambda r: r[0])
    print(f"DuckDB read_csv (typed, plain):   {base:6.2f} s  {base_rows:,} rows  "
          f"(best of {args.repeat}: {', '.join(f'{b:.2f}' for b, _ in bases)})")
    best = min(tuned)[0]
    print(f"DuckDB read_csv, {BUFFER >> 20} MB buffer:  {best:6.2f} s  (the same read, given "
          "crmreport's buffer size)")
    print(f"crmreport ingest + identify:      {total:6.2f} s  {rows:,} orders "
          f"(ingest {steps['ingest']:.2f} s, identify {steps['identify']:.2f} s; "
          f"best of {args.repeat}: {', '.join(f'{r[0]:.2f}' for r in runs)}; "
          f"typed lane: {_lane_taken()})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ratio: {total / base:.2f}x (against the same buffer: {total / best:.2f}x)   "
          f"peak RSS {rss:.0f} MB")
    if args.profile:
        timed = Timed(connect())
        ours(path, mapping, timed)
        for seconds, _, sql in sorted(timed.seen, reverse=True)[:8]:
            print(f"{seconds:7.3f} s  {sql[:100]}")


if __name__ == "__main__":
    main()
