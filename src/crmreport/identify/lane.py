"""The typed lane: a clean export read straight into its table, typed by DuckDB's reader.

Staging reads every value as text and parses, checks and flags it in SQL: right for any
export, but about twice the cost of DuckDB's own typed read. Most large exports are clean
(ISO dates, plain amounts, canonical statuses), and for those the lane lets DuckDB's reader
type the dates, amounts and timestamps (its casts are the ones staging tries first), makes
the text columns as staging makes them, and stores the rows if each is clean: one staging
would keep, with these values, without a flag the lane cannot count afterwards.

The lane is abandoned, and the table staged as usual, when the reader fails on any line (a
value it cannot type, a ragged or wrongly encoded line; the first one stops the read), when
a row is not clean, when a check against another table fails or when a key repeats. Either
way the table and the account are the same; ``tests/identify/test_lane.py`` holds both ways
to the same results.

Never cast a column the reader types to text in the lane: DuckDB pushes such a cast into
the reader, which then hands over the text unchecked.
"""

from __future__ import annotations

import duckdb

from crmreport.engine import Connection
from crmreport.identify.spec import Lane, Spec
from crmreport.ingest import Sources
from crmreport.tables import TABLES

TYPED = "typed_staging"


def settle(con: Connection, sources: Sources, spec: Spec, lane: Lane) -> bool:
    """Read the table's one plain part through the lane; False (nothing changed, the part
    unread) when the lane does not apply or is abandoned."""
    parts = sources.parts[spec.table]
    read = sources.typed(spec.table, parts[0], lane.types) if len(parts) == 1 else None
    if read is None:
        return False
    rows = _store(con, spec.table, lane, read)
    if not rows or _repeats(con, spec.key) or not sources.complete(parts[0], rows):
        return _abandon(con)  # an empty or short read is staged, to be judged with reasons
    filled = [(code, f"{column} IS NULL") for column, (_, code) in lane.filled.items()]
    flags = [*lane.flags, *filled, *spec.across]
    failed, *counts = _counts(con, [_any(spec.against), *(sql for _, sql in flags)])
    if failed:  # a row fails a check against another table: staging quarantines it
        return _abandon(con)
    sources.count_typed(parts[0], rows)
    entry = sources.account.files[parts[0].file]
    for (code, _), count in zip(flags, counts, strict=True):
        if count:
            entry.flag(code, count)
    for column, (default, code) in lane.filled.items():
        if entry.flags[code]:
            con.execute(f"UPDATE {TYPED} SET {column} = {default} WHERE {column} IS NULL")
    entry.loaded = rows  # as stored in the table: all rows of this one file
    con.execute(f"DROP TABLE IF EXISTS {spec.table}")
    con.execute(f"ALTER TABLE {TYPED} RENAME TO {spec.table}")
    return True


def _store(con: Connection, table: str, lane: Lane, read: str) -> int:
    """Store the read as the table; its row count, or 0 when the reader failed on a line or
    a row is not clean. The first such row stops the read (a messy file costs little here),
    and no verdict is stored (cheaper than a column, or a second scan)."""
    types = TABLES[table]
    columns = ", ".join(f"CAST({lane.columns.get(c, c)} AS {t}) AS {c}" for c, t in types.items())
    clean = " AND ".join(f"({sql})" for sql in lane.clean)
    try:
        return int(con.execute(
            f"CREATE OR REPLACE TABLE {TYPED} AS SELECT * FROM (SELECT {columns} FROM ({read})) "
            f"WHERE ({clean}) OR error('not clean: staged instead')").fetchall()[0][0])
    except duckdb.Error:  # that error, or a line the reader cannot split, decode or type
        return 0


def _abandon(con: Connection) -> bool:
    con.execute(f"DROP TABLE IF EXISTS {TYPED}")
    return False


def _any(checks: list[tuple[str, str]]) -> str:
    """SQL true for a row that fails any of the checks."""
    return " OR ".join(f"({sql})" for _, sql in checks) or "false"


def _counts(con: Connection, conditions: list[str]) -> list[int]:
    """How many stored rows meet each condition, in one scan."""
    counts = ", ".join(f"count_if({sql})" for sql in conditions)
    return [int(c) for c in con.execute(f"SELECT {counts} FROM {TYPED}").fetchall()[0]]


def _repeats(con: Connection, key: str | None) -> bool:
    """Whether a key repeats (staging would merge the rows)."""
    if key is None or strictly_ordered(con, TYPED, key, "true"):
        return False
    return bool(con.execute(f"SELECT count(*) FROM (SELECT {key} FROM {TYPED} GROUP BY {key} "
                            "HAVING count(*) > 1)").fetchall()[0][0])


def strictly_ordered(con: Connection, table: str, key: str, where: str) -> bool:
    """Whether the key rises or falls strictly in the table's order, as text or else by
    length then text (#999 before #1000); if so, none repeats. Exports are usually sorted by
    their id, and an ordered pass is far cheaper than hashing every key. Each order is
    tried alone, rising text first (the usual one)."""
    shorter = "(length(k) < length(p) OR (length(k) = length(p) AND k < p))"
    longer = "(length(k) > length(p) OR (length(k) = length(p) AND k > p))"
    slices = " UNION ALL ".join(  # an empty OVER keeps the table's order
        f"SELECT {key} AS k, lag({key}) OVER () AS p FROM {table} WHERE {where}{rowids}"
        for rowids in _slices(con, table, where))
    return any(
        not con.execute(f"SELECT count(*) FILTER (NOT {order}) FROM ({slices})").fetchall()[0][0]
        for order in ("k > p", "k < p", longer, shorter))


def _slices(con: Connection, table: str, where: str) -> list[str]:
    """Row ranges (as SQL conditions) to check at once, one per thread: an ordered pass runs
    on one thread. Each starts at the last row kept before its cut, so that every two
    neighbouring kept rows meet in one range."""
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    cuts = [rows * i // threads for i in range(1, threads)]
    if not cuts:
        return [""]
    last = ", ".join(f"max(rowid) FILTER (rowid < {cut})" for cut in cuts)
    starts = con.execute(f"SELECT {last} FROM {table} WHERE {where}").fetchall()[0]
    return [(f" AND rowid >= {lo}" if lo is not None else "") +
            (f" AND rowid < {hi}" if hi is not None else "")
            for lo, hi in zip([None, *starts], [*cuts, None], strict=True)]
