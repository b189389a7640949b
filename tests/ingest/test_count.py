"""Counting records apart from the parser: chunk boundaries never change a count, which is
checked against Python's csv module (CSV) or a plain split (whitespace-separated files)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.ingest import count as tc


def csv_records(data: bytes) -> int:
    """Non-blank records as Python's csv module reads them."""
    return sum(1 for record in csv.reader(io.StringIO(data.decode(), newline="")) if record)


def every_split(data: bytes) -> list[list[bytes]]:
    return [[data]] + [[data[:i], data[i:]] for i in range(1, len(data))]


# A quoted value holding \r (alone or before \n) with a chunk ending right after that \r.
QUOTED_CR = [b'a,b\n1,"x\ry"\n2,z\n', b'a,b\r\n1,"x\r\ny"\r\n2,z\r\n',
             b'a,b\r\n1,"x\r"\r\n2,z', b'a,b\r1,"x\r"\r2,z\r', b'a,b\n1,"\r\r"\n\n2,z\n']


@pytest.mark.parametrize("data", QUOTED_CR)
def test_a_cr_inside_quotes_at_a_chunk_end_is_no_record_end(data: bytes) -> None:
    whole = tc.count_chunks([data])
    assert whole.records == csv_records(data) == 3 and not whole.open_quote
    for chunks in every_split(data):
        got = tc.count_chunks(chunks)
        assert (got.records, got.endings, got.open_quote) == (
            whole.records, whole.endings, False), chunks


@pytest.mark.parametrize("chunks", [[b'a,b\n1,"x\r'], [b'a,b\n1,"x', b"\r"],
                                    [b'a,b\n1,"x\r', b""]])
def test_a_file_ending_in_a_cr_inside_an_open_quote(chunks: list[bytes]) -> None:
    got = tc.count_chunks(chunks)
    # the \r is inside the value, not a line end: before the fix it counted as a CR line end
    # and took one CRLF off (-1), so the file also looked as if it mixed line ends
    assert got.open_quote and got.records == 2
    assert got.endings == {"lf": 1, "crlf": 0, "cr": 0} and not got.mixed_endings


BLANK_LINES = st.lists(st.sampled_from([b"1", b"22.5", b" ", b"\t", b"\r", b"\x0c", b"\n",
                                        b"\r\n", b"\x0b"]), max_size=30)


@settings(max_examples=200, deadline=None)
@given(BLANK_LINES, st.integers(1, 8))
def test_non_blank_lines_of_a_whitespace_file(parts: list[bytes], size: int) -> None:
    data = b"".join(parts)
    expected = sum(1 for line in data.split(b"\n") if line.strip(b" \t\r\x0c"))
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    assert tc.count_lines(io.BytesIO(data)) == expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tc, "CHUNK", size)
        assert tc.count_lines(io.BytesIO(data)) == expected, chunks


FIELDS = st.sampled_from([b"a", b"", b'"x\ny"', b'"q""r"', b'"\r\n"', b'"c\rd"', b'","'])
ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])
RECORDS = st.lists(st.tuples(st.lists(FIELDS, min_size=1, max_size=3), ENDS), max_size=12)


@settings(max_examples=300, deadline=None)
@given(RECORDS, st.integers(1, 9))
def test_records_with_quoted_line_ends_in_any_chunks(records: list[tuple[list[bytes], bytes]],
                                                    size: int) -> None:
    """Quoted values holding line ends, blank lines, every kind of line end and their mixes
    (an empty record ended by \\r, then one by \\r\\n, is \\r\\r\\n): the csv module's count and
    the file's line ends, however the bytes are cut."""
    data = b"".join(b",".join(fields) + end for fields, end in records)
    whole = tc.count_chunks([data])
    assert whole.records == csv_records(data)
    outside = re.sub(rb'"[^"]*"', b"q", data)  # each quoted value (and its "") as one q
    assert sum(whole.endings.values()) == len(re.findall(rb"\r\n|\r|\n", outside))
    assert not whole.open_quote
    assert tc.count_chunks([data[i:i + size] for i in range(0, len(data), size)]) == whole
