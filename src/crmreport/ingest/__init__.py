"""Ingest: source files -> raw_<table> tables in canonical column names, all text, rows counted.

Each raw table has the canonical columns of its table (VARCHAR; NULL where the source has no
such column), ``_file`` (index into the account), ``_row`` (the row within that file) and
the bookkeeping columns a preset may set (see ``presets.base``): ``_counted``, ``_reason``,
``_merge``, ``_dup``, ``_flags``. Typing, cleaning and quarantining happen in identify.

A file is declared for one table and its input rows are counted there; a preset may feed
further tables from it (an order export feeds order_lines too) with uncounted rows, so every
input row is loaded, merged or quarantined exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crmreport.engine import Connection
from crmreport.errors import DataError
from crmreport.ingest import mappings
from crmreport.ingest.account import Account, FileAccount
from crmreport.ingest.presets import PRESETS, Feed, Preset, Stage
from crmreport.ingest.presets.base import META, META_TYPES
from crmreport.ingest.readers import RawRead, ReadOptions, count_rows, drop_object, read_raw
from crmreport.tables import TABLES

__all__ = ["PRESETS", "Account", "FileAccount", "SourceFile", "load_sources", "release_raw"]

# Tables whose source must hold data rows: a header-only export of these is a failed export.
NEEDS_ROWS = ("customers", "orders")


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: Path
    mapping: str | dict[str, str] = "crmreport"


def load_sources(con: Connection, sources: list[SourceFile]) -> Account:
    """Read every source into raw_<table>; tables with no source exist empty."""
    account = Account()
    parts: dict[str, list[str]] = {t: [] for t in TABLES}
    staged: list[str] = []
    for source in sources:
        entry = account.add(str(source.path), source.table)
        index = len(account.files) - 1
        setup, feeds = _stage(con, source, entry, index)
        staged.append(f"src_{index}")
        for statement in setup:
            con.execute(statement)
        for feed in feeds:
            parts[feed.table].append(_select(feed, index))
    for table, selects in parts.items():
        # A view, not a copy: identify reads each staged file once, then calls release_raw.
        body = " UNION ALL ".join(f"({s})" for s in selects) if selects else _empty(table)
        con.execute(f"CREATE OR REPLACE VIEW raw_{table} AS {body}")
    _check_counted(con, account)
    _keep_rejects(con, staged)
    return account


def release_raw(con: Connection) -> None:
    """Drop the raw views and the staged files under them, once identify has read them."""
    for table in TABLES:
        drop_object(con, f"raw_{table}")
    views = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'src\\_%' "
        "ESCAPE '\\'").fetchall()]
    for name in sorted(views, reverse=True):
        con.execute(f"DROP VIEW {name}")
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'src\\_%' "
        "ESCAPE '\\'").fetchall()]
    for name in tables:
        con.execute(f"DROP TABLE {name}")


def _stage(con: Connection, source: SourceFile, entry: FileAccount,
           index: int) -> tuple[list[str], list[Feed]]:
    """Read one file; return the SQL to run and the feeds that map it onto canonical tables."""
    path, table = str(source.path), source.table
    staging = f"src_{index}"
    if isinstance(source.mapping, dict):
        preset = mappings.explicit(source.mapping, table, path)
    elif source.mapping == mappings.AUTO:
        preset = PRESETS["crmreport"]
    else:
        preset = mappings.preset_named(source.mapping, path)
    read = read_raw(con, source.path, staging, preset.read)
    if source.mapping in ("crmreport", mappings.AUTO) and (
        source.mapping == mappings.AUTO or not mappings.fits(preset, table, read.columns)
    ):
        detected = mappings.detect(table, read.columns)
        if detected is not None:
            preset = detected
            if detected.read != ReadOptions():
                read = read_raw(con, source.path, staging, detected.read)
    found = mappings.resolve(preset, table, read.columns, path)
    rows = count_rows(con, staging)
    _check_rows(source, read, rows)
    entry.rows_in = rows + read.rejected
    for code, count in sorted(read.rejected_by.items()):
        entry.quarantine(code, count)
    entry.preset = preset.name if preset.name != "explicit" else None
    entry.read = read.notes
    stage = Stage(table, staging, found, read.decimal, preset.date_formats)
    transform = preset.transforms.get(table)
    if transform is None:
        setup: list[str] = []
        feeds = [Feed(table, {"_row": "_row", **stage.mapped_columns(table, list(found))},
                      staging, ordered=False)]
    else:
        setup, feeds = transform(stage)
    entry.tables = [table, *sorted({f.table for f in feeds} - {table})]
    return setup, feeds


def _keep_rejects(con: Connection, staged: list[str]) -> None:
    """Lines the parser rejected, as written, for the quarantine file."""
    names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    parts = [f"SELECT {i} AS _file, line, csv_line, error FROM {s}_rej"
             for i, s in enumerate(staged) if f"{s}_rej" in names]
    body = " UNION ALL ".join(parts) if parts else (
        "SELECT 0 AS _file, 0::BIGINT AS line, ''::VARCHAR AS csv_line, ''::VARCHAR AS error "
        "WHERE false")
    con.execute(f"CREATE OR REPLACE TABLE raw_rejects AS {body}")


def _check_rows(source: SourceFile, read: RawRead, rows: int) -> None:
    if rows == 0 and read.rejected == 0 and source.table in NEEDS_ROWS:
        columns = ("" if mappings.looks_like_data(read.columns)
                   else f" (columns: {', '.join(read.columns)})")
        raise DataError(f"{source.path}: the file has a header but no data rows{columns}; "
                        "export it again with its data")
    if read.rejected and read.rejected > rows:
        raise DataError(
            f"{source.path}: most rows are ragged ({read.rejected:,} of "
            f"{rows + read.rejected:,} rows have another number of fields than the header's "
            f"{len(read.columns)}); check the delimiter and quoting, or export it again")


def _select(feed: Feed, index: int) -> str:
    meta = []
    for name in META:
        if name in feed.columns:
            meta.append(f"CAST({feed.columns[name]} AS {META_TYPES[name]}) AS {name}")
        elif name == "_counted":
            meta.append(f"{'true' if feed.counted else 'false'} AS _counted")
        else:
            meta.append(f"CAST(NULL AS {META_TYPES[name]}) AS {name}")
    columns = [
        f"CAST({feed.columns[c]} AS VARCHAR) AS {c}" if c in feed.columns
        else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in TABLES[feed.table]
    ]
    # A transform's windows may reorder rows; raw tables stay in file order (determinism).
    order = " ORDER BY _row" if feed.ordered else ""
    return f"SELECT {index} AS _file, {', '.join(meta + columns)} FROM {feed.source}{order}"


def _empty(table: str) -> str:
    meta = ", ".join(f"CAST(NULL AS {META_TYPES[m]}) AS {m}" for m in META)
    columns = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in TABLES[table])
    return f"SELECT 0 AS _file, {meta}, {columns} WHERE false"


def _check_counted(con: Connection, account: Account) -> None:
    """Every staged row of a file is counted once, in its declared table (a self-check)."""
    for table in TABLES:
        for file_index, count in con.execute(
            f"SELECT _file, count(*) FROM raw_{table} WHERE _counted GROUP BY _file"
        ).fetchall():
            entry = account.files[file_index]
            expected = entry.rows_in - entry.reasons.get("malformed_row", 0) - \
                entry.reasons.get("wrong_encoding", 0)
            if entry.table != table or count != expected:
                raise AssertionError(f"{entry.path}: {count} rows counted in {table}, "
                                     f"expected {expected} in {entry.table}")


def preset_names() -> list[str]:
    return sorted(PRESETS)


__all__ += ["Preset", "preset_names"]
