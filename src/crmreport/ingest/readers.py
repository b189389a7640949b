"""Reading source files into DuckDB as raw text, with every row numbered and counted.

Formats: delimited text (CSV/TSV/semicolon, any of UTF-8, UTF-8 with BOM, UTF-16, cp1252;
info lines above the header and footer lines below the data; gzip), whitespace-separated
text (CDNOW), Excel .xlsx, Parquet and JSON lines.

A text file DuckDB can parse as it is stays a *lazy* view over DuckDB's streaming CSV
reader: it is read once, when identify types it, so a large export is never held as text.
Its rows are numbered by their position in what that read stores and counted then. Files
DuckDB cannot read as they are (cp1252, UTF-16, a footer) are transcoded first, line by
line, into a temporary UTF-8 file and stored; so are files a preset's transform reads with
window functions (see ``materialise``). ``typed_csv`` reads a lazy file again with DuckDB
typing some of its columns, strictly (identify's typed lane).

A Parquet file is lazy too, a view of its columns as text, counted by its footer; on its
typed lane (``typed_parquet``) a column is typed from that same text, so the lane and
staging see the same values whatever types the file itself stores.
"""

from __future__ import annotations

import contextlib
import csv as pycsv
import datetime as dt
import gzip
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from crmreport.engine import Connection, columns, has_table, is_spark, is_view
from crmreport.errors import DataError
from crmreport.files import owned_tempdir
from crmreport.ingest import count as tc
from crmreport.ingest import sniff as sn
from crmreport.reasons import (
    FORMULA_WITHOUT_VALUE,
    MALFORMED_ROW,
    MIXED_ENCODING,
    parser_reject_sql,
)
from crmreport.testhook import checkpoint

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv",
           ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xlsm": "excel",
           ".jsonl": "json", ".ndjson": "json", ".json": "json"}
MAGIC = ((b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file renamed?)"), (b"%PDF", "a PDF"),
         (b"PAR1", "a Parquet file"), (b"\xd0\xcf\x11\xe0", "an old Excel .xls file"))
# Bytes each CSV reader thread takes at a time. Given explicitly, DuckDB 2.0 reads a large file
# with about a quarter less CPU than with its own default (bench/README.md, "Ingest").
BUFFER = 16 * 2**20
MIXED_SHOWN = 20  # lines in another encoding named in the account, at most


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means: sniff it."""

    format: str | None = None  # csv, whitespace, excel, parquet, json
    delimiter: str | None = None
    encoding: str | None = None
    decimal: str | None = None
    skip: int | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class CsvFile:
    """A text export DuckDB reads as it is: where, and how it is split."""

    path: str
    delimiter: str
    skip: int  # info lines above the header


@dataclass
class RawRead:
    """What reading one file found: its columns, rows the parser rejected, and what it did."""

    columns: list[str]
    rejected: int = 0
    decimal: str = "."
    notes: dict[str, Any] = field(default_factory=dict)  # encoding, delimiter, info/footer lines
    # Rejected rows by reason code (malformed_row, wrong_encoding); sums to ``rejected``.
    rejected_by: dict[str, int] = field(default_factory=dict)
    # A view over the file, not yet read: no ``_row``; rows and rejects are known once read.
    lazy: bool = False
    csv: CsvFile | None = None  # a lazy read's file, for a typed read of it (``typed_csv``)
    parquet: str | None = None  # a lazy Parquet read's file (``typed_parquet``)
    # Data rows in the file as counted apart from the parser (``count``; Excel, Parquet and
    # JSON: their own readers' counts), the account's rows_in; None: the rows read.
    counted: int | None = None
    backslash: bool = False  # the file holds \" (an escape CSV does not use)
    # Rows read with a repair, by flag code (mixed_encoding), counted per file.
    flagged: dict[str, int] = field(default_factory=dict)


def file_format(path: Path, given: str | None = None) -> str:
    if given:
        return given
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; use CSV, TSV, Excel "
                        "(.xlsx), Parquet or JSON lines (.jsonl)")
    return kind


def read_raw(con: Connection, path: Path, table: str,
             options: ReadOptions | None = None) -> RawRead:
    """Create ``table`` holding the file's columns as VARCHAR plus ``_row`` (1-based data row),
    or, for a lazy read, a view of the file's columns alone.

    Rows the parser rejects (ragged rows) are counted in ``rejected`` (for a lazy read, by
    ``take_rejects`` once the file has been read); the caller records them as quarantined,
    never silently dropped.
    """
    options = options or ReadOptions()
    drop_object(con, table)  # a second read of the same file (another preset) starts afresh
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path in the campaign's data section")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes); export it again with a header row")
    kind = file_format(path, options.format)
    _check_magic(path, kind)
    try:
        if kind == "csv":
            result = _read_csv(con, path, table, options)
        elif kind == "whitespace":
            result = _read_whitespace(con, path, table)
        elif kind == "excel":
            result = _read_excel(con, path, table, options)
        elif kind == "parquet":
            result = _read_parquet(con, path, table)
        else:
            result = _read_json(con, path, table)
    except DataError:
        raise
    except Exception as exc:  # DuckDB and the file libraries raise many types
        raise DataError(f"{path}: cannot be read as {kind.upper()}: {why(exc)}") from None
    if not result.columns:
        raise DataError(f"{path}: no columns found; export it again with a header row")
    return result


def drop_object(con: Connection, name: str) -> None:
    """Drop the view or table ``name``, whichever it is, if it exists."""
    if is_view(con, name):
        con.execute(f"DROP VIEW {name}")
    con.execute(f"DROP TABLE IF EXISTS {name}")


def count_rows(con: Connection, table: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(rows[0][0]) if rows else 0


def _check_magic(path: Path, kind: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\x1f\x8b"):
        if kind in ("excel", "parquet"):
            raise DataError(f"{path}: is gzip-compressed; unpack it first")
        return
    for magic, what in MAGIC:
        expected = (kind == "excel" and magic == b"PK\x03\x04") or (
            kind == "parquet" and magic == b"PAR1")
        if head.startswith(magic) and not expected:
            raise DataError(f"{path}: cannot be read as {kind.upper()}: it is {what}, binary "
                            "data; export it as CSV, Excel (.xlsx), Parquet or JSON lines")


def why(exc: Exception) -> str:
    text = str(exc).strip()
    lowered = text.lower()
    if "unicode" in lowered or "utf-8" in lowered or "encoding" in lowered:
        return ("wrong encoding: it is not valid UTF-8 throughout (mixed encodings?); "
                "export it again as UTF-8")
    if any(w in lowered for w in ("truncated", "unexpected end", "eof", "corrupt", "magic")):
        return f"the file looks truncated or corrupt ({text.splitlines()[0]})"
    return text.splitlines()[0] if text else type(exc).__name__


# --- delimited text -----------------------------------------------------------------------

def _open_head(path: Path) -> bytes:
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "rb") as handle:
            try:
                return handle.read(sn.HEAD_BYTES)
            except (EOFError, OSError) as exc:
                raise DataError(f"{path}: the gzip file looks truncated or corrupt ({exc}); "
                                "copy or export it again") from None
    return sn.read_head(path)


def layout_of(path: Path, options: ReadOptions) -> sn.Layout:
    if path.suffix.lower() == ".gz":  # no cheap tail: no footer detection
        head = _open_head(path)
        encoding = options.encoding or sn.sniff_encoding(head, path)
        lines = sn.split_lines(sn.decode(head, encoding, cut=len(head) >= sn.HEAD_BYTES))
        delimiter = options.delimiter or sn._sniff_delimiter(lines)
        skip = options.skip if options.skip is not None else sn._header_index(lines, delimiter)
        decimal = options.decimal or ("," if delimiter == ";" else ".")
        return sn.Layout(encoding, delimiter, skip, 0, decimal)
    return sn.sniff(path, options.delimiter, options.encoding, options.decimal, options.skip)


def _read_csv(con: Connection, path: Path, table: str, options: ReadOptions) -> RawRead:
    layout = layout_of(path, options)
    _check_truncated(path, layout)
    found, counted = (None, None) if layout.encoding.startswith("utf-16") else \
        _data_rows(path, layout)
    notes: dict[str, Any] = {"encoding": layout.encoding, "delimiter": layout.delimiter,
                             "decimal": layout.decimal}
    if layout.skip:
        notes["info_lines"] = layout.skip
    if layout.footer:
        notes["footer_lines"] = layout.footer
    if layout.native and not (layout.skip and is_spark(con)):  # Spark: no skip option
        assert found is not None
        csv = CsvFile(str(path), layout.delimiter, layout.skip)
        with parse_errors(path, found.backslash_quote):
            _csv_view(con, csv.path, table, csv.delimiter, csv.skip)
        return RawRead(_columns(con, table), 0, layout.decimal, notes, lazy=True, csv=csv,
                       counted=counted, backslash=found.backslash_quote)
    mixed: list[int] = []
    with _utf8(path, layout, mixed) as source:  # the copy is gone afterwards: store it
        if found is None:  # UTF-16: counted from its UTF-8 copy
            found, counted = _data_rows(Path(source), sn.Layout("utf-8", layout.delimiter),
                                        shown=path, offset=layout.skip)
        with parse_errors(path, found.backslash_quote):
            _csv_view(con, source, table, layout.delimiter, 0)
            read = materialise(con, table, RawRead(_columns(con, table), 0, layout.decimal,
                                                   notes, lazy=True, counted=counted,
                                                   backslash=found.backslash_quote))
    if layout.native:  # copied only for Spark: rejected lines as numbered in the file
        con.execute(f"UPDATE {table}_rej SET line = line + {int(layout.skip)}")
    if mixed:  # the lines, so the user can check them; the count is flagged per file
        read.notes["utf8_lines"] = mixed[:MIXED_SHOWN]
        read.flagged[MIXED_ENCODING] = len(mixed)
    return read


def _open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, unpacked if gzip; the caller closes it."""
    opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
    return opener(path, "rb")  # type: ignore[no-any-return]


def _data_rows(path: Path, layout: sn.Layout, shown: Path | None = None,
               offset: int = 0) -> tuple[tc.TextCount, int]:
    """The file's records counted apart from the parser, and its data rows among them:
    without the header and the non-blank info and footer lines the sniffer found. A file
    ending inside quotes, or with line ends of more than one kind, is refused with its line
    (``shown`` is the file to name, ``offset`` the lines its copy lacks)."""
    with _open_bytes(path) as stream:
        found = tc.count_records(stream)
    named = shown or path
    if found.open_quote:
        with _open_bytes(path) as stream:
            line = tc.open_quote_line(stream) + offset
        raise DataError(f"{named}: line {line:,}: a quote (\") opens a value that is never "
                        "closed, so the rest of the file would be read as that one value; "
                        "close the quote on that line (a quote inside a value is written "
                        "twice: \"\") and export the file again")
    if found.mixed_endings:
        with _open_bytes(path) as stream:
            line, end, first = tc.first_other_ending(stream)
        raise DataError(f"{named}: line {line + offset:,}: mixed line endings: this line ends "
                        f"with {end}, the lines before it with {first}; convert the file to "
                        "one kind of line end (e.g. with dos2unix) or export it again")
    head = sn.split_lines(sn.decode(_open_head(path), layout.encoding, cut=False))
    info = sum(1 for line in head[: layout.skip] if line)
    footer = 0
    if layout.footer:
        tail = sn.split_lines(sn.decode(sn.read_tail(path), layout.encoding, cut=False))
        footer = sum(1 for line in tail[-layout.footer:] if line)
    return found, max(found.records - info - footer - 1, 0)


@contextlib.contextmanager
def parse_errors(path: Path | str, backslash: bool) -> Iterator[None]:
    """A parser failure in a file that holds \\" is explained by that escape, with its line."""
    try:
        yield
    except Exception as exc:
        if not backslash or isinstance(exc, DataError):
            raise
        with _open_bytes(Path(path)) as stream:
            line = tc.first_line_with(stream, b'\\"')
        raise DataError(f"{path}: line {line or 0:,}: a quote inside a value is escaped with a "
                        "backslash (\\\"); CSV writes it twice (\"\"): export the file again "
                        "with quotes doubled, or replace \\\" by \"\"") from None


def first_unread_line(con: Connection, path: Path, read: RawRead, select: str) -> int | None:
    """The line of the first record (of the header's width) that the parser did not return:
    the file read by Python's csv module beside ``select``, which yields the first column of
    what the parser returned, in file order. Run only when the counts differ."""
    notes, width = read.notes, len(read.columns)
    opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding=notes.get("encoding", "utf-8"), newline="",
                errors="replace") as handle:
        skip = int(notes.get("info_lines", 0))
        for _ in range(skip):
            handle.readline()
        records = pycsv.reader(handle, delimiter=notes.get("delimiter", ","))
        next(records, None)
        cursor = con.execute(select)
        start = records.line_num + 1
        for record in records:
            line, start = start, records.line_num + 1
            if len(record) != width:
                continue
            got = cursor.fetchone()
            if got is None or (got[0] or "") != record[0].lstrip("\ufeff"):
                return skip + line
    return None


def materialise(con: Connection, table: str, read: RawRead) -> RawRead:
    """Store a lazy read as ``{table}_csv`` and make ``table`` that store, rows numbered.

    The rows are numbered by the stored table's rowid, which follows file order under
    preserve_insertion_order: a row_number() window would cost a third of the read.
    """
    if not read.lazy:
        return read
    con.execute(f"CREATE OR REPLACE TABLE {table}_csv AS SELECT * FROM {table}")
    con.execute(f"DROP VIEW {table}")
    # its columns by name: on Spark a * beside rowid would also give the hidden row number
    names = ", ".join(_quoted(name) for name, _ in columns(con, f"{table}_csv"))
    con.execute(f"CREATE VIEW {table} AS SELECT rowid + 1 AS _row, {names} FROM {table}_csv")
    by = take_rejects(con, table)
    return replace(read, rejected=sum(by.values()), rejected_by=by, lazy=False, csv=None,
                   parquet=None)


def take_rejects(con: Connection, table: str) -> dict[str, int]:
    """After the file under ``table`` was read: its rejected lines, as written, one row per
    line in ``{table}_rej`` (line, csv_line, error), and their count per reason code."""
    if not has_table(con, f"{table}_rejects"):  # nothing rejected, or nothing read
        con.execute(f"CREATE OR REPLACE TABLE {table}_rej (line BIGINT, csv_line VARCHAR, "
                    "error VARCHAR)")
        return {}
    # Only the latest read counts: the table keeps the rejects of every read of the view.
    con.execute(f"""CREATE OR REPLACE TABLE {table}_rej AS SELECT line,
                    arg_min(csv_line, column_idx) AS csv_line,
                    arg_min(error_type, column_idx)::VARCHAR AS error
                    FROM {table}_rejects
                    WHERE scan_id = (SELECT max(scan_id) FROM {table}_rejects)
                    GROUP BY line ORDER BY line""")
    con.execute(f"DROP TABLE IF EXISTS {table}_rejects; DROP TABLE IF EXISTS {table}_scans")
    return dict(con.execute(f"SELECT {parser_reject_sql('error')}, count(*) "
                            f"FROM {table}_rej GROUP BY ALL").fetchall())


@contextlib.contextmanager
def _utf8(path: Path, layout: sn.Layout, mixed: list[int]) -> Iterator[str]:
    """The file transcoded to a temporary UTF-8 copy without info and footer lines;
    ``mixed`` gets the lines (1-based) read as UTF-8 in a Windows-1252 file."""
    folder = owned_tempdir("crmreport-")  # a killed run's copies go on the next read
    target = Path(folder) / "transcoded.csv"
    try:
        _transcode(path, layout, target, mixed)
        checkpoint("transcoded")
        yield str(target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _transcode(path: Path, layout: sn.Layout, target: Path, mixed: list[int]) -> None:
    """Stream ``path`` to UTF-8, without its info lines and footer lines."""
    opener: Any = gzip.open if path.suffix.lower() == ".gz" else open
    with target.open("w", encoding="utf-8", newline="") as dst:
        if layout.encoding != "cp1252":
            with opener(path, "rt", encoding=layout.encoding, newline="") as src:
                _copy_lines(src, dst, layout.skip, layout.footer)
            return
        with opener(path, "rb") as raw:
            _copy_lines(_cp1252_lines(raw, mixed), dst, layout.skip, layout.footer)


def _cp1252_lines(raw: IO[bytes], mixed: list[int]) -> Iterator[str]:
    """A Windows-1252 file's lines, each a line of UTF-8 (non-ASCII bytes that decode as
    UTF-8: in real Windows-1252 text "Ã¼" and the like hardly occur) read as UTF-8, so a
    few lines pasted in from a UTF-8 export keep their umlauts; their numbers go to
    ``mixed``, for the account."""
    for number, line in enumerate(raw, start=1):
        if line.isascii():
            yield line.decode("ascii")
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield line.decode("cp1252")
            continue
        mixed.append(number)
        yield text


def _copy_lines(src: Iterable[str], dst: IO[str], skip: int, footer: int) -> None:
    window: list[str] = []
    for number, line in enumerate(src):
        if number < skip:
            continue
        if number == skip and line.startswith("\ufeff"):
            line = line[1:]
        window.append(line)
        if len(window) > max(footer, 0) + 4096:
            dst.writelines(window[: len(window) - footer])
            window = window[len(window) - footer:]
    dst.writelines(window[: len(window) - footer] if footer else window)


def _csv_view(con: Connection, source: str, table: str, delimiter: str, skip: int) -> None:
    """``table`` as a view reading ``source`` as text; rejected lines go to ``{table}_rejects``."""
    con.execute(
        f"""CREATE OR REPLACE VIEW {table} AS
        SELECT * FROM read_csv('{_literal(source)}', all_varchar = true,
            header = true, delim = '{_literal(delimiter)}', quote = '"', escape = '"',
            skip = {int(skip)}, null_padding = false, buffer_size = {BUFFER}, store_rejects = true,
            rejects_table = '{table}_rejects', rejects_scan = '{table}_scans')"""
    )


def typed_csv(csv: CsvFile, columns: list[str], types: dict[str, str]) -> str:
    """A strict read of the file, the columns in ``types`` typed by DuckDB's reader and the
    others text: a line the reader cannot split, decode or type fails the statement. Nothing
    is sniffed again, so the columns and dialect are those the lazy read found."""
    spec = ", ".join(f"'{_literal(c)}': '{types.get(c, 'VARCHAR')}'" for c in columns)
    return (f"read_csv('{_literal(csv.path)}', columns = {{{spec}}}, header = true, "
            f"auto_detect = false, delim = '{_literal(csv.delimiter)}', quote = '\"', "
            f"escape = '\"', skip = {int(csv.skip)}, null_padding = false, buffer_size = {BUFFER})")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """Text inside a SQL string literal (a view cannot take parameters)."""
    return text.replace("'", "''")


def _check_truncated(path: Path, layout: sn.Layout) -> None:
    """A text file cut off mid-row: no final line end and a short or unterminated last line."""
    if path.suffix.lower() == ".gz" or layout.footer:
        return
    tail = sn.read_tail(path)
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    lines = sn.split_lines(sn.decode(tail, layout.encoding, cut=False))
    last = lines[-1] if lines else ""
    head_lines = sn.split_lines(sn.decode(sn.read_head(path)[:65536], layout.encoding,
                                          cut=False))
    header = head_lines[layout.skip] if layout.skip < len(head_lines) else ""
    width = len(sn._fields(header, layout.delimiter))
    if last.count('"') % 2 or len(sn._fields(last, layout.delimiter)) < width:
        raise DataError(f"{path}: the file looks truncated: its last line has no line end and "
                        f"{len(sn._fields(last, layout.delimiter))} of {width} fields; copy or "
                        "export it again")


# --- whitespace-separated text (CDNOW) ------------------------------------------------------

def _read_whitespace(con: Connection, path: Path, table: str) -> RawRead:
    """Fields separated by runs of blanks, no quoting. A first line that is not numeric is the
    header; otherwise columns are named column1..N by the first line's width. Lines of blanks
    only are no records; the others are counted apart from this reader (``count_lines``)."""
    head = sn.split_lines(sn.decode(_open_head(path)[:65536], "utf-8", cut=True))
    first = next((line for line in head if line.strip()), "")
    tokens = first.split()
    has_header = bool(tokens) and not tokens[0].replace(".", "").isdigit()
    if has_header:
        names = tokens
        sample = next((line for line in head[head.index(first) + 1:] if line.strip()), "")
        if len(sample.split()) != len(names):
            names = [f"column{i + 1}" for i in range(len(sample.split()))]
    else:
        names = [f"column{i + 1}" for i in range(len(tokens))]
    parts = ", ".join(f"f[{i + 1}] AS \"{n}\"" for i, n in enumerate(names))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table}_lines AS
        SELECT * FROM (
            SELECT row_number() OVER () AS _row, string_split_regex(trim(line), '\\s+') AS f
            FROM read_csv(?, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f',
                          quote = '', escape = '')
            WHERE regexp_matches(line, '\\S'))
        WHERE _row > ?""",
        [str(path), 1 if has_header else 0],  # the header: the first non-blank line
    )
    con.execute(f"""CREATE OR REPLACE TABLE {table} AS SELECT row_number() OVER (ORDER BY _row)
                    AS _row, {parts} FROM {table}_lines WHERE array_length(f) = {len(names)}
                    ORDER BY _row""")
    rejected = count_rows(con, f"{table}_lines") - count_rows(con, table)
    con.execute(f"DROP TABLE {table}_lines")
    with _open_bytes(path) as stream:
        counted = tc.count_lines(stream) - int(has_header)
    return RawRead(names, rejected, ".", {"format": "whitespace"}, {MALFORMED_ROW: rejected},
                   counted=counted)


# --- Excel ----------------------------------------------------------------------------------

def _read_excel(con: Connection, path: Path, table: str, options: ReadOptions) -> RawRead:
    """The first (or named) sheet; info rows above the header and footer rows are skipped.

    Cells are rendered as text: integral numbers without '.0' (ids never become floats),
    other numbers in their shortest exact form, dates as ISO 8601.
    """
    import pyarrow as pa

    rows, formulas = _excel_rows(path, options.sheet)
    widths = [sum(v is not None for v in row) for row in rows]
    if not any(widths):
        raise DataError(f"{path}: the workbook's first sheet is empty; export it again with "
                        "a header row")
    width = max(widths)
    start = next((i for i, w in enumerate(widths) if w == width), 0)
    if options.skip is not None:
        start = options.skip
    header = rows[start]
    last = len(header)
    while last and header[last - 1] is None:
        last -= 1
    names = [h if h is not None else f"column{i + 1}" for i, h in enumerate(header[:last])]
    body = [r[:last] + [None] * (last - len(r)) for r in rows[start + 1:]]
    footer = _excel_footer(body)
    body = body[: len(body) - footer]
    unvalued = {i - start - 1 for i in formulas if start < i <= start + len(body)}
    _excel_rejects(con, table, body, unvalued, start)
    kept = [(i + 1, r) for i, r in enumerate(body)
            if any(v is not None for v in r) and i not in unvalued]
    arrays = {"_row": pa.array([i for i, _ in kept], pa.int64())}
    for j, name in enumerate(names):
        arrays[name] = pa.array([r[j] for _, r in kept], pa.string())
    data = pa.table(arrays)
    con.register(f"{table}_arrow", data)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table}_arrow")
    finally:
        con.unregister(f"{table}_arrow")
    notes: dict[str, Any] = {"format": "excel"}
    if start:
        notes["info_lines"] = start
    if footer:
        notes["footer_lines"] = footer
    blank = len(body) - len(kept) - len(unvalued)
    if blank:
        notes["blank_rows"] = blank
    by = {FORMULA_WITHOUT_VALUE: len(unvalued)} if unvalued else {}
    return RawRead(names, len(unvalued), ".", notes, rejected_by=by,  # the rows openpyxl
                   counted=len(kept) + len(unvalued))  # yielded, blank ones left out


def _excel_rows(path: Path, sheet: str | None) -> tuple[list[list[str | None]], set[int]]:
    """The sheet's cells as text, and the rows (0-based) with a formula but no saved value.

    A workbook written by a program rather than Excel may store formulas without their
    values: the cell reads empty. Such a cell holds its formula here (so the row keeps its
    width for the footer rule) and its row is quarantined, never loaded with a blank field.
    """
    values = _sheet_cells(path, sheet, data_only=True)
    formulas: set[int] = set()
    if any(v is None for row in values for v in row):  # only then can a value be missing
        for i, row in enumerate(_sheet_cells(path, sheet, data_only=False)[: len(values)]):
            for j, cell in enumerate(row[: len(values[i])]):
                if values[i][j] is None and _is_formula(cell):
                    values[i][j] = _formula_text(cell)
                    formulas.add(i)
    return [[_cell(v) for v in row] for row in values], formulas


def _sheet_cells(path: Path, sheet: str | None, data_only: bool) -> list[list[Any]]:
    import openpyxl  # type: ignore[import-untyped]  # only Excel users pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as Excel: the file looks truncated or is "
                        f"not an .xlsx workbook ({exc}); save it again as .xlsx") from None
    try:
        found = book[sheet] if sheet else book.worksheets[0]
        return [list(row) for row in found.iter_rows(values_only=True)]
    finally:
        book.close()


def _is_formula(cell: object) -> bool:
    # Array and data-table formulas are objects with a ``text``; a plain one is "=...".
    return (isinstance(cell, str) and cell.startswith("=")) or hasattr(cell, "text")


def _formula_text(cell: object) -> str:
    return str(getattr(cell, "text", cell))


def _excel_rejects(con: Connection, table: str, body: list[list[str | None]],
                   unvalued: set[int], start: int) -> None:
    """The rows with a formula but no value, for the quarantine file: their sheet row and
    their cells (formulas as written), as the CSV reader keeps a rejected line."""
    con.execute(f"CREATE OR REPLACE TABLE {table}_rej (line BIGINT, csv_line VARCHAR, "
                "error VARCHAR)")
    rows = [(start + 2 + i, ",".join(v or "" for v in body[i]), FORMULA_WITHOUT_VALUE)
            for i in sorted(unvalued)]
    if rows:
        con.executemany(f"INSERT INTO {table}_rej VALUES (?, ?, ?)", rows)


def _excel_footer(body: list[list[str | None]]) -> int:
    """Trailing rows below a blank row that look like a footer (``sniff.looks_like_footer``:
    a total row, or one cell of text that is not an id)."""
    count = 0
    text_seen = False
    for row in reversed(body):
        filled = sum(v is not None for v in row)
        if filled == 0:
            if text_seen:
                return count + 1
            count += 1
        elif row[0] is not None and sn.looks_like_footer([v or "" for v in row]
                                                       if filled > 1 else [row[0]]):
            count += 1
            text_seen = True
        else:
            break
    return 0


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


# --- Parquet and JSON lines -----------------------------------------------------------------

def _read_parquet(con: Connection, path: Path, table: str) -> RawRead:
    if is_spark(con):  # Spark's own reader; the rows as the file's footer declares them
        import pyarrow.parquet as pq

        from crmreport.engine.spark import stage_parquet

        names = stage_parquet(con, str(path), table)  # type: ignore[arg-type]
        return RawRead(names, 0, ".", {"format": "parquet"},
                       counted=pq.read_metadata(path).num_rows)
    source = f"read_parquet('{_literal(str(path))}')"
    names = [name for name, _ in columns(con, f"SELECT * FROM {source}")]
    casts = ", ".join(f"CAST({_quoted(n)} AS VARCHAR) AS {_quoted(n)}" for n in names)
    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {casts} FROM {source}")
    # Its rows as the file's footer declares them, not as the scan returns them.
    declared = con.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)",
                           [str(path)]).fetchall()[0][0]
    return RawRead(names, 0, ".", {"format": "parquet"}, lazy=True, parquet=str(path),
                   counted=int(declared or 0))


def typed_parquet(path: str, columns: list[str], types: dict[str, str]) -> str:
    """The file read with the columns in ``types`` cast to them and the others text. Each is
    typed from its text, as staging reads it, so a value the file stores typed (a DATE, a
    DOUBLE) comes out as staging would make it; a value that does not cast fails the
    statement."""
    casts = ", ".join(
        f"CAST(CAST({_quoted(c)} AS VARCHAR) AS {types[c]}) AS {_quoted(c)}" if c in types
        else f"CAST({_quoted(c)} AS VARCHAR) AS {_quoted(c)}" for c in columns)
    return f"(SELECT {casts} FROM read_parquet('{_literal(path)}'))"


def _read_json(con: Connection, path: Path, table: str) -> RawRead:
    if is_spark(con):  # Spark infers other types (and dates in strings) than DuckDB
        raise DataError(f"{path}: JSON lines are not supported on Spark; convert the file to "
                        "CSV or Parquet, or use engine: duckdb")
    source = "read_json(?, format = 'newline_delimited', sample_size = -1)"
    described = con.execute(f"DESCRIBE SELECT * FROM {source}", [str(path)]).fetchall()
    names = [r[0] for r in described]
    casts = ", ".join(
        f'json_extract_string("{n}", \'$\') AS "{n}"' if t == "JSON"
        else f'CAST("{n}" AS VARCHAR) AS "{n}"' for n, t, *_ in described)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT row_number() OVER () AS _row, "
                f"{casts} FROM {source}", [str(path)])
    return RawRead(names, 0, ".", {"format": "json"}, counted=_json_lines(path))


def _json_lines(path: Path) -> int:
    """Non-blank lines: one JSON record each (a string holds no raw line end). Quotes are
    dropped before counting, since JSON escapes them with a backslash."""
    with _open_bytes(path) as stream:
        chunks = iter(lambda: stream.read(tc.CHUNK), b"")
        return tc.count_chunks(c.replace(b'"', b"") for c in chunks).records


def _columns(con: Connection, table: str) -> list[str]:
    return [name for name, _ in columns(con, table) if name != "_row"]
