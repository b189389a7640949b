"""Sniffing a text export: encoding, delimiter, info lines above the header, footer lines.

Only the first and last few hundred kilobytes are read, so sniffing costs the same for a
10 kB and a 10 GB file. The result is explicit reader options, never a guess hidden in the
parser: every decision is recorded in :class:`Layout` and reported in the account.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from crmreport.errors import DataError

HEAD_BYTES = 256 * 1024
TAIL_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Layout:
    """How to read one delimited text file."""

    encoding: str  # a Python codec name: utf-8, utf-8-sig, utf-16, cp1252
    delimiter: str
    skip: int = 0  # info lines above the header
    footer: int = 0  # footer lines below the data (blank lines included)
    decimal: str = "."  # the decimal separator of numbers in this file

    @property
    def native(self) -> bool:
        """True when DuckDB can read the bytes as they are (UTF-8, with or without BOM)."""
        return self.encoding in ("utf-8", "utf-8-sig") and self.footer == 0


def sniff_encoding(head: bytes, path: Path) -> str:
    """BOM first; else UTF-8 if the sample decodes; UTF-16 without BOM by its NUL pattern;
    else cp1252 (a superset of Latin-1 for text: €, „, “ in 0x80-0x9F)."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    sample = head[:4096]
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    if b"\x00" in head:
        raise DataError(f"{path}: cannot be read as text: it holds binary data (NUL bytes); "
                        "export it as CSV, Excel (.xlsx), Parquet or JSON lines")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sample's end
            return "utf-8"
    if _mostly_utf8(head):
        return "utf-8"  # the lines in another encoding are quarantined with their line
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        raise DataError(f"{path}: cannot be read as text: the bytes are neither UTF-8, UTF-16 "
                        "nor Windows-1252; export it again as UTF-8 CSV") from None
    return "cp1252"


def _mostly_utf8(head: bytes) -> bool:
    """Whether most lines with non-ASCII bytes are UTF-8: a UTF-8 export with a few lines
    pasted in from another encoding, not a Windows-1252 file. Deciding by the majority
    keeps one odd line from turning every umlaut of the file into mojibake."""
    utf8 = other = 0
    for line in head.split(b"\n")[:-1]:  # the last line may be cut by the sample's end
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
    return utf8 > other


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text of mostly Latin script: one byte of each pair NUL, the text decodable."""
    if len(sample) < 4 or sample.count(b"\x00") * 3 < len(sample):
        return None
    even, odd = sample[0::2], sample[1::2]
    name = "utf-16-le" if odd.count(0) > even.count(0) else "utf-16-be"
    zeros, other = (odd, even) if name == "utf-16-le" else (even, odd)
    if zeros.count(0) < 0.9 * len(zeros) or other.count(0) > 0.05 * len(other):
        return None
    text = sample[: len(sample) // 2 * 2].decode(name, errors="replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    return name if controls == 0 and "\ufffd" not in text else None


def read_head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def read_tail(path: Path) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - TAIL_BYTES))
        return handle.read()


def decode(data: bytes, encoding: str, cut: bool) -> str:
    """Decode a sample; ``cut`` drops a partial last line."""
    text = data.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if cut and "\n" in text:
        text = text[: text.rfind("\n") + 1]
    return text


def sniff(path: Path, delimiter: str | None = None, encoding: str | None = None,
          decimal: str | None = None, skip: int | None = None) -> Layout:
    """Work out the layout of a delimited text file; given options win over sniffing."""
    head = read_head(path)
    complete = len(head) < HEAD_BYTES
    encoding = encoding or sniff_encoding(head, path)
    text = decode(head, encoding, cut=not complete)
    lines = split_lines(text)
    if not any(line.strip() for line in lines):
        raise DataError(f"{path}: the file holds no text lines; export it again with a header row")
    delimiter = delimiter or _sniff_delimiter(lines)
    if skip is None:
        skip = _header_index(lines, delimiter)
    tail_text = text if complete else decode(read_tail(path), encoding, cut=False)
    footer = _footer_lines(split_lines(tail_text), delimiter, lines[skip] if skip < len(lines)
                           else "")
    if decimal is None:
        decimal = "," if delimiter == ";" else "."
    return Layout(encoding=encoding, delimiter=delimiter, skip=skip, footer=footer,
                  decimal=decimal)


def split_lines(text: str) -> list[str]:
    """Lines as a file opened with ``newline=''`` yields them: split on \\n, \\r\\n and \\r."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _fields(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits most sample lines into the same number (>1) of fields."""
    sample = [line for line in lines[:200] if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        counts = Counter(line.count(delimiter) for line in sample if delimiter in line)
        if not counts:
            continue
        width, agreeing = counts.most_common(1)[0]
        score = (agreeing, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header_index(lines: list[str], delimiter: str) -> int:
    """The header is the first record as wide as the data below it with no empty cell.

    Records above it (report titles, "Exported on ...", filter settings) are info lines.
    Records are parsed with quoting, so a quoted value spanning lines stays one record.
    """
    try:
        records = list(csv.reader(io.StringIO("\n".join(lines[:400])), delimiter=delimiter))
    except csv.Error:
        records = [_fields(line, delimiter) for line in lines[:400]]
    widths = [len(r) if any(c.strip() for c in r) else 0 for r in records]
    body = [w for w in widths[1:] if w > 1] or [w for w in widths if w]
    if not body:
        return 0
    width = Counter(body).most_common(1)[0][0]
    if width <= 1:
        return 0
    for index, record in enumerate(records[:50]):
        if len(record) == width and all(c.strip() for c in record):
            return index
    for index, w in enumerate(widths[:50]):
        if w == width:
            return index
    return 0


def _footer_lines(tail: list[str], delimiter: str, header: str) -> int:
    """Trailing lines that are not data, counted from the end, as report exports write them:
    below a blank line, lines that look like a footer (``looks_like_footer``). A line right
    below the data is a short data row (ragged, quarantined), not a footer; so is a row with
    only an id, or a few fields, after a blank line: it is counted and loaded or
    quarantined, never dropped. A line with an odd number of quotes ends a quoted
    multi-line value and stops the scan."""
    if len(_fields(header, delimiter)) <= 1:
        return 0
    scanned = 0
    footer = 0
    text_seen = False
    for line in reversed(tail):
        if line.count('"') % 2:
            break
        if not line.strip():
            scanned += 1
            if text_seen:
                footer = scanned
            continue
        if looks_like_footer(_fields(line, delimiter)):
            scanned += 1
            text_seen = True
            continue
        break
    return footer


# A total line's first cell: "Total", "Totals:", "Grand total", "Summe", "Gesamt", "Anzahl".
_TOTAL = re.compile(r"(grand\s+)?(totals?|sum|summe|gesamt\w*|anzahl|count)\b", re.IGNORECASE)
# A value that may be an id: one token with a digit (C1001, 12345, 2024-0001, ab_12).
_ID_LIKE = re.compile(r"[\w.#/-]*\d[\w.#/-]*")


def looks_like_footer(fields: list[str]) -> bool:
    """The rule for a line below the data and a blank line: a footer is a total line (its
    first cell "Total", "Summe", ...; any number of cells) or a single cell of text that
    is not an id ("Generated by Shop", "Exported 2024-03-01", "(c) 2024 Shop").
    Anything else there (an id alone, a few fields) is data."""
    cells = [c.strip() for c in fields if c.strip()]
    if not cells:
        return False
    if _TOTAL.match(cells[0]):
        return True
    return len(fields) == 1 and not _ID_LIKE.fullmatch(cells[0])
