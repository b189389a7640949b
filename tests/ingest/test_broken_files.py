"""A corpus of broken files: each is refused with a message that says why, or read as it is."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from crmreport.account import Account
from crmreport.engine import Connection, connect
from crmreport.errors import DataError
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources

GOOD = "customer_id,email,first_name\nC1,a@example.de,Anna\nC2,b@example.de,Ben\n"


def load(*paths: Path, table: str = "customers", con: Connection | None = None) -> Account:
    """Read and identify: a large text file is only read, and counted, by identify."""
    con = con or connect()
    staged = load_sources(con, [SourceFile(table, path) for path in paths])
    identify_tables(con, staged, "EUR")
    return staged.account


def _xlsx(path: Path) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["customer_id", "email"])
    book.active.append(["C1", "a@example.de"])
    book.save(path)
    return path.read_bytes()


BROKEN = {
    "empty.csv": (lambda p: b"", "empty"),
    "binary.csv": (lambda p: b"\x00\x01\x02\xff\xfe\x00" * 100, "binary data"),
    "report.csv": (lambda p: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"x" * 200, "a PDF"),
    "renamed.csv": (lambda p: _xlsx(p.with_suffix(".xlsx")), "ZIP archive"),
    "header_only.csv": (lambda p: b"customer_id,email\n", "header but no data rows"),
    "ragged.csv": (lambda p: b"customer_id,email\nC1;a@x.de;1\nC2;b@x.de;2\nC3;c;3\n"
                   b"C4,d@x.de\n", "ragged"),
    "truncated.csv": (lambda p: GOOD.encode() + b'C3,"c@exam', "truncated"),
    "truncated.csv.gz": (lambda p: gzip.compress(GOOD.encode() * 2000)[:300], "truncated"),
    "truncated.xlsx": (lambda p: _xlsx(p.with_name("whole.xlsx"))[:500], "truncated"),
    "notes.docx": (lambda p: b"PK\x03\x04", "unsupported file type"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_is_refused_with_the_reason(tmp_path: Path, name: str) -> None:
    make, needle = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(make(path))
    with pytest.raises(DataError, match=needle) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("encoding", "prefix"), [
    ("utf-8", b""), ("utf-8-sig", b""), ("utf-16", b""), ("cp1252", b""),
])
def test_encodings_are_detected(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    text = "customer_id;last_name;city\nC1;„Weiß“ €;Köln\nC2;Dvořák;Brno\n"
    if encoding == "cp1252":
        text = text.replace("ř", "r")
    path = tmp_path / "k.csv"
    path.write_bytes(prefix + text.encode(encoding))
    con = connect()
    account = load(path, con=con)
    assert account.files[0].read["delimiter"] == ";"
    rows = con.execute("SELECT customer_id, last_name, city FROM customers").fetchall()
    assert rows[0] == ("C1", "„Weiß“ €", "Köln")


def test_tab_separated_json_lines_and_parquet(tmp_path: Path) -> None:
    tsv = tmp_path / "c.tsv"
    tsv.write_text("customer_id\temail\nC1\ta@example.de\n")
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"customer_id": "C2", "email": "b@example.de"}\n'
                     '{"customer_id": 3, "email": null}\n')
    con = connect()
    account = load(tsv, jsonl, con=con)
    assert [f.rows_in for f in account.files] == [1, 2]
    assert con.execute("SELECT customer_id FROM customers").fetchall() \
        == [("C1",), ("C2",), ("3",)]


def test_a_line_in_another_encoding_is_quarantined_not_lost(tmp_path: Path) -> None:
    """UTF-8 for the first 256 kB, then one Windows-1252 line: counted, with its reason."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(("customer_id,email\n" + "C1,a@example.de\n" * 20000).encode()
                     + "C3,Gr\xfc\xdfe@x.de\n".encode("cp1252"))
    account = load(path)
    assert account.files[0].reasons == {"wrong_encoding": 1, "duplicate_customer_id": 19999}
    assert account.files[0].rows_in == 20001
