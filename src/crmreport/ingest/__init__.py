"""Ingest: source files -> per canonical table, SELECTs in canonical column names, all text.

Each part selects the canonical columns of its table (VARCHAR; NULL where the source has no
such column), ``_file`` (index into the account), ``_row`` (the row within that file; NULL
for a lazily read file, whose rows are numbered by where identify stores them) and the
bookkeeping columns a preset may set (see ``presets.base``): ``_counted``, ``_reason``,
``_merge``, ``_dup``, ``_flags``. Typing, cleaning and quarantining happen in identify,
which reads each part once through ``Sources.scan``, or a plain file through
``Sources.typed`` (its typed lane) first.

A file is declared for one table and its input rows are counted there; a preset may feed
further tables from it (an order export feeds order_lines too) with uncounted rows, so every
input row is loaded, merged or quarantined exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from crmreport.account import Account, FileAccount
from crmreport.engine import Connection, has_table, is_view, table_names
from crmreport.errors import DataError
from crmreport.ingest import mappings
from crmreport.ingest.presets import PRESETS, Feed, Preset, RawFile
from crmreport.ingest.presets.base import META, META_TYPES
from crmreport.ingest.readers import (
    RawRead,
    ReadOptions,
    count_rows,
    first_unread_line,
    materialise,
    parse_errors,
    read_raw,
    take_rejects,
    typed_csv,
    typed_parquet,
    why,
)
from crmreport.tables import RAW_REJECTS, TABLES

__all__ = ["PRESETS", "RawPart", "SourceFile", "Sources",
           "load_sources", "release_raw"]

# Tables whose source must hold data rows: a header-only export of these is a failed export.
NEEDS_ROWS = ("customers", "orders")


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: Path
    mapping: str | dict[str, str] = "crmreport"


@dataclass(frozen=True)
class RawPart:
    """One feed of a canonical table: a SELECT over one staged file."""

    file: int  # index into the account
    select: str
    lazy: bool  # the file itself is read when this part is scanned
    reordered: bool  # rows may come out of file order (a transform's windows): sort by _row
    # canonical column -> the file's column, for a lazy text or Parquet file whose columns
    # map one to one with nothing to rewrite (decimal point, ISO dates): DuckDB can type it
    plain: dict[str, str] | None = None


@dataclass
class Sources:
    """What ``load_sources`` staged: the account and each canonical table's parts in file order.

    A lazily read file is counted when its part is scanned; its account is complete then.
    """

    account: Account
    parts: dict[str, list[RawPart]]
    reads: dict[int, tuple[SourceFile, RawRead]] = field(default_factory=dict)  # lazy ones

    def scan(self, con: Connection, part: RawPart, sql: str) -> int:
        """Run ``sql``, which reads ``part.select`` once and returns a row count (an INSERT)."""
        if not part.lazy:
            return int(con.execute(sql).fetchall()[0][0])
        source, read = self.reads.pop(part.file)
        try:
            with parse_errors(source.path, read.backslash):
                rows = int(con.execute(sql).fetchall()[0][0])
        except duckdb.Error as exc:  # a problem past the sniffed head of the file
            kind = "PARQUET" if read.parquet else "CSV"
            raise DataError(f"{source.path}: cannot be read as {kind}: {why(exc)}") from None
        by = take_rejects(con, f"src_{part.file}")
        read = replace(read, rejected=sum(by.values()), rejected_by=by)
        _count_read(self.account.files[part.file], source, read, rows)
        _locate(con, self.account.files[part.file], source, read, f"src_{part.file}", "")
        _keep_rejects(con, part.file)
        return rows

    def typed(self, table: str, part: RawPart, types: dict[str, str]) -> str | None:
        """A SELECT of the part's ``table`` columns straight from its file, those in
        ``types`` typed by DuckDB's reader (others text, NULL where the file lacks them);
        None unless the part is plain and not yet read. A line the reader cannot split,
        decode or type fails the statement; ``scan`` can still read the part afterwards."""
        if part.plain is None or part.file not in self.reads:
            return None
        read = self.reads[part.file][1]
        by_column: dict[str, str] = {}
        for canonical, column in part.plain.items():
            kind = types.get(canonical, "VARCHAR")
            if by_column.setdefault(column, kind) != kind:
                return None  # one column of the file read as two types
        columns = ", ".join(
            f"{_quoted(part.plain[c])} AS {c}" if c in part.plain
            else f"CAST(NULL AS {types.get(c, 'VARCHAR')}) AS {c}" for c in TABLES[table])
        if read.parquet is not None:
            return f"SELECT {columns} FROM {typed_parquet(read.parquet, read.columns, by_column)}"
        assert read.csv is not None
        return f"SELECT {columns} FROM {typed_csv(read.csv, read.columns, by_column)}"

    def complete(self, part: RawPart, rows: int) -> bool:
        """Whether ``rows`` read from the part's file are all its file's data rows."""
        counted = self.reads[part.file][1].counted if part.file in self.reads else None
        return counted is None or counted == rows

    def count_typed(self, part: RawPart, rows: int) -> None:
        """Account for a part that ``typed`` read in full: every row stored, none rejected."""
        source, read = self.reads.pop(part.file)
        _count_read(self.account.files[part.file], source, read, rows)


def load_sources(con: Connection, sources: list[SourceFile]) -> Sources:
    """RawFile every source; tables with no source get no parts."""
    account = Account()
    staged = Sources(account, {t: [] for t in TABLES})
    con.execute(RAW_REJECTS.create())
    for source in sources:
        entry = account.add(str(source.path), source.table)
        index = len(account.files) - 1
        setup, feeds, read, plain = _read_source(con, source, entry, index)
        for statement in setup:
            con.execute(statement)
        for feed in feeds:
            staged.parts[feed.table].append(
                RawPart(index, _select(feed, index), read.lazy, feed.reordered, plain))
        if read.lazy:
            staged.reads[index] = (source, read)
        else:
            _keep_rejects(con, index)
    return staged


def release_raw(con: Connection) -> None:
    """Drop the staged files, once identify has read them."""
    staged = table_names(con, "src_")
    for name in sorted(staged, reverse=True):  # views before the tables they read
        if is_view(con, name):
            con.execute(f"DROP VIEW {name}")
    for name in [*staged, RAW_REJECTS.name]:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _read_source(con: Connection, source: SourceFile, entry: FileAccount,
                 index: int) -> tuple[list[str], list[Feed], RawRead, dict[str, str] | None]:
    """Read one file; return the SQL to run, the feeds that map it onto canonical tables,
    what reading found and, for a plain file, its column mapping (see ``RawPart.plain``)."""
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
    transform = preset.transforms.get(table)
    if transform is not None:  # its windows need numbered rows
        read = materialise(con, staging, read)
    if not read.lazy:
        _count_read(entry, source, read, count_rows(con, staging))
        _locate(con, entry, source, read, staging, " ORDER BY _row")
    entry.preset = preset.name if preset.name != "explicit" else None
    entry.read = read.notes
    raw = RawFile(table, staging, found, read.decimal, preset.date_formats)
    plain = None
    lazy_file = read.csv is not None or read.parquet is not None
    if transform is None and lazy_file and read.decimal == "." and \
            not preset.date_formats:
        plain = found
    if transform is None:
        numbered = {} if read.lazy else {"_row": "_row"}
        setup: list[str] = []
        feeds = [Feed(table, {**numbered, **raw.mapped_columns(table, list(found))},
                      staging, reordered=False)]
    else:
        setup, feeds = transform(raw)
    entry.tables = [table, *sorted({f.table for f in feeds} - {table})]
    return setup, feeds, read, plain


def _count_read(entry: FileAccount, source: SourceFile, read: RawRead, rows: int) -> None:
    """The file's input rows: those stored plus those the parser rejected (quarantined)."""
    _check_rows(source, read, rows)
    entry.rows_in = rows + read.rejected if read.counted is None else read.counted
    entry.parsed = rows + read.rejected
    for code, count in sorted(read.rejected_by.items()):
        entry.quarantine(code, count)
    for code, count in sorted(read.flagged.items()):
        entry.flag(code, count)


def _locate(con: Connection, entry: FileAccount, source: SourceFile, read: RawRead,
            relation: str, order: str) -> None:
    """When the parser returned another number of rows than the file holds, the line of the
    first record it did not return (text files; the account then cannot balance)."""
    if entry.parsed == entry.rows_in or "delimiter" not in read.notes:
        return
    first = _quoted(read.columns[0])
    entry.unread_line = first_unread_line(
        con, source.path, read, f"SELECT {first} FROM {relation}{order}")


def _keep_rejects(con: Connection, index: int) -> None:
    """Lines the parser rejected, as written, for the quarantine file."""
    staged = f"src_{index}_rej"
    if has_table(con, staged):
        con.execute(f"INSERT INTO {RAW_REJECTS} SELECT {index}, line, csv_line, error "
                    f"FROM {staged} ORDER BY line")
        con.execute(f"DROP TABLE {staged}")


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
    return f"SELECT {index} AS _file, {', '.join(meta + columns)} FROM {feed.source}"


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def preset_names() -> list[str]:
    return sorted(PRESETS)


__all__ += ["Preset", "preset_names"]
