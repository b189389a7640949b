"""Counting a text file's records without its parser: the account's ``rows_in``.

One streaming pass over the bytes in large chunks, as a quote-aware CSV reader splits them:
a line end (``\\n``, ``\\r\\n`` or a lone ``\\r``) ends a record unless it lies inside quotes,
and blank lines are no records. Inside quotes means after an odd number of ``"`` bytes: a
doubled ``""`` toggles twice, so the parity is exact for RFC 4180 files. A chunk without
quotes or carriage returns is counted from its line ends alone; any other chunk with quote
parities; both with numpy, never a Python loop per byte.

The count also notes what a parser trips over, for a message naming the line: a file that
ends inside a quoted value (an unterminated quote), line ends of more than one kind, and
``\\"`` escapes. Only ASCII-compatible bytes matter here (UTF-8, cp1252; UTF-16 is counted
from its UTF-8 copy).

A whitespace-separated file (CDNOW) has no quoting: ``count_lines`` counts its non-blank
lines, apart from its reader in the same way.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

CHUNK = 16 * 2**20
QUOTE, LF, CR = 34, 10, 13
# What a whitespace-separated file's blank line may hold: the bytes of RE2's \s, with which
# its reader splits and skips lines (space, tab, line feed, form feed, carriage return).
BLANKS = (32, 9, 10, 12, 13)


@dataclass
class TextCount:
    """Records and line ends of one file, outside quotes."""

    records: int = 0  # non-blank records, header, info and footer lines included
    open_quote: bool = False  # the file ends inside a quoted value
    endings: dict[str, int] = field(default_factory=lambda: {"lf": 0, "crlf": 0, "cr": 0})
    backslash_quote: bool = False  # a \" somewhere: an escape CSV does not use

    @property
    def mixed_endings(self) -> bool:
        return sum(1 for n in self.endings.values() if n) > 1


@dataclass
class _State:
    inside: bool = False  # the chunk starts inside quotes
    line_empty: bool = True  # nothing but line ends since the last record end


def count_records(stream: IO[bytes]) -> TextCount:
    """Count the records of a byte stream to its end."""
    return count_chunks(_chunks(stream))


def count_chunks(chunks: Iterable[bytes]) -> TextCount:
    result, state = TextCount(), _State()
    held = b""  # a trailing \r waits for the next chunk: it may start \r\n
    tail = b""
    for chunk in chunks:
        data = held + chunk
        held = b""
        if data.endswith(b"\r"):
            data, held = data[:-1], b"\r"
        if (b"\\" in data and b'\\"' in data) or (tail == b"\\" and data.startswith(b'"')):
            result.backslash_quote = True
        if data:
            _count(data, result, state)
            tail = data[-1:]
    if held and not state.inside:
        _count(held + b"\n", result, state)  # a final lone \r ends the last record
        result.endings["crlf"] -= 1
        result.endings["cr"] += 1
    elif held or not state.line_empty:
        # a last record without a line end; a final \r inside an open quote is part of it
        result.records += 1
    result.open_quote = state.inside
    return result


def count_lines(stream: IO[bytes]) -> int:
    """The non-blank lines of a whitespace-separated file (no quoting) to its end: lines, split
    at ``\n``, holding a byte other than ``BLANKS``."""
    import numpy as np  # when a file is counted: not on the way to it
    lines, open_filled = 0, False  # the line still open at a chunk's end has a filled byte
    for chunk in _chunks(stream):
        arr = np.frombuffer(chunk, dtype=np.uint8)
        lf = np.flatnonzero(arr == LF)
        # each filled byte's line within the chunk; line len(lf) is the one left open
        filled = np.unique(np.searchsorted(lf, np.flatnonzero(~np.isin(arr, BLANKS))))
        closed = filled[filled < len(lf)]
        lines += len(closed)
        if len(lf) == 0:
            open_filled = open_filled or bool(len(filled))
            continue
        if open_filled and (not len(closed) or closed[0] != 0):
            lines += 1  # the line carried over had a filled byte, its end is here
        open_filled = bool(len(filled)) and int(filled[-1]) == len(lf)
    return lines + int(open_filled)


def _chunks(stream: IO[bytes]) -> Iterable[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _count(data: bytes, result: TextCount, state: _State) -> None:
    import numpy as np
    if state.inside or b'"' in data or b"\r" in data:  # memchr scans: fast
        _count_numpy(np.frombuffer(data, dtype=np.uint8), result, state)
        return
    # Only \n ends here, all outside quotes: a record per end, less the blank lines.
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == LF)
    if not len(ends):
        state.line_empty = False
        return
    blank = int(np.count_nonzero(np.diff(ends) == 1)) + int(state.line_empty and ends[0] == 0)
    result.records += len(ends) - blank
    result.endings["lf"] += len(ends)
    state.line_empty = int(ends[-1]) == len(data) - 1


def _count_numpy(arr: np.ndarray, result: TextCount, state: _State) -> None:
    """A chunk with quotes, carriage returns or blank lines."""
    import numpy as np
    quotes = np.flatnonzero(arr == QUOTE)
    lf = np.flatnonzero(arr == LF)
    cr = np.flatnonzero(arr == CR)
    lone_cr = cr[arr[np.minimum(cr + 1, len(arr) - 1)] != LF]  # the last byte: itself, a \r
    # Sorted; a \r\n ends at its \n. \n and \r never share a place, so no set operation
    # (each sorts: most of a quoted chunk's time) is needed to merge them.
    ends = np.sort(np.concatenate((lf, lone_cr))) if len(lone_cr) else lf
    before = np.searchsorted(quotes, ends) + int(state.inside)
    ends = ends[before % 2 == 0]
    if len(ends):
        is_lf = arr[ends] == LF
        after_cr = np.zeros(len(ends), dtype=bool)
        after_cr[ends > 0] = arr[ends[ends > 0] - 1] == CR
        result.endings["crlf"] += int(np.count_nonzero(is_lf & after_cr))
        result.endings["lf"] += int(np.count_nonzero(is_lf & ~after_cr))
        result.endings["cr"] += int(np.count_nonzero(~is_lf))
        # A record's bytes run from the previous end to this one; blank if only line ends.
        starts = np.concatenate(([-1], ends[:-1])) + 1
        width = ends - starts - (is_lf & after_cr)
        blank = width <= 0
        if not state.line_empty:
            blank[0] = False  # the first record began in an earlier chunk
        result.records += int(len(ends) - np.count_nonzero(blank))
        last = int(ends[-1])
    else:
        last = -1
    rest = arr[last + 1:]
    state.line_empty = (state.line_empty if last < 0 else True) and not np.any(
        (rest != LF) & (rest != CR))
    state.inside = bool((len(quotes) + int(state.inside)) % 2)


def open_quote_line(stream: IO[bytes]) -> int:
    """The line (1-based) of the first quoted value that runs over a line end: where a file
    that ends inside quotes has its unterminated quote, unless a value before it spans
    lines on purpose. Run only once a count found the file ending inside quotes."""
    import numpy as np
    line, carried = 1, np.zeros(0, dtype=np.int64)  # the line of a quote still open
    for chunk in _chunks(stream):
        arr = np.frombuffer(chunk, dtype=np.uint8)
        lf = np.flatnonzero(arr == LF)
        quotes = line + np.searchsorted(lf, np.flatnonzero(arr == QUOTE))
        lines = np.concatenate((carried, quotes))
        opens, closes = lines[0::2], lines[1::2]
        spans = np.flatnonzero(closes > opens[: len(closes)])
        if len(spans):
            return int(opens[spans[0]])
        carried = opens[len(closes):]
        line += len(lf)
    return int(carried[0]) if len(carried) else line


def first_line_with(stream: IO[bytes], needle: bytes) -> int | None:
    """The line (1-based) of the first occurrence of ``needle``; None if there is none."""
    line, rest = 1, b""
    for chunk in _chunks(stream):
        data = rest + chunk
        at = data.find(needle)
        if at >= 0:
            return line + data.count(b"\n", 0, at)
        keep = len(needle) - 1
        line += data.count(b"\n", 0, len(data) - keep)
        rest = data[len(data) - keep:]
    return None


def first_other_ending(stream: IO[bytes]) -> tuple[int, str, str]:
    """The first line whose line end differs from the first line's: (line, its end, the
    first line's end), by name (LF, CRLF, CR). Run only once a count found mixed ends."""
    names = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}
    text = io.TextIOWrapper(stream, encoding="latin-1", newline="")
    first = ""
    for number, line in enumerate(text, start=1):
        end = next((e for e in names if line.endswith(e)), "")
        if not end:
            break
        if not first:
            first = end
        elif end != first:
            return number, names[end], names[first]
    return 0, "", names.get(first, "")
