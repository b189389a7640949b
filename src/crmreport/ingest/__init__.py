"""Ingest: source files -> raw_<table> tables in canonical column names, all text, rows counted.

Each raw table has the canonical columns of its table (VARCHAR; NULL where the source has no
such column), ``_file`` (index into the account) and ``_row`` (the row within that file).
Typing, cleaning and quarantining happen in identify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crmreport.engine import Connection
from crmreport.ingest.account import Account, FileAccount
from crmreport.ingest.mappings import PRESETS, resolve
from crmreport.ingest.readers import read_raw
from crmreport.tables import TABLES

__all__ = ["PRESETS", "Account", "FileAccount", "SourceFile", "load_sources"]


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: Path
    mapping: str | dict[str, str] = "crmreport"


def load_sources(con: Connection, sources: list[SourceFile]) -> Account:
    """Read every source into raw_<table>; tables with no source exist empty."""
    account = Account()
    parts: dict[str, list[str]] = {t: [] for t in TABLES}
    for source in sources:
        entry = account.add(str(source.path), source.table)
        parts[source.table].append(_stage(con, source, entry, len(account.files) - 1))
    for table, selects in parts.items():
        body = " UNION ALL ".join(selects) if selects else _empty(table)
        con.execute(f"CREATE OR REPLACE TABLE raw_{table} AS {body}")
    return account


def _stage(con: Connection, source: SourceFile, entry: FileAccount, index: int) -> str:
    """Read one file; return the SELECT that maps it onto canonical columns."""
    staging = f"src_{index}"
    found, rejected = read_raw(con, source.path, staging)
    mapped = resolve(source.mapping, source.table, found, str(source.path))
    count = con.execute(f"SELECT count(*) FROM {staging}").fetchone()
    entry.rows_in = (int(count[0]) if count else 0) + rejected
    entry.quarantine("malformed_row", rejected)
    columns = [
        f'"{mapped[c]}" AS {c}' if c in mapped else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in TABLES[source.table]
    ]
    return f"SELECT {index} AS _file, _row, {', '.join(columns)} FROM {staging}"


def _empty(table: str) -> str:
    columns = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in TABLES[table])
    return f"SELECT 0 AS _file, CAST(0 AS BIGINT) AS _row, {columns} WHERE false"
