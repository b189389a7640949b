"""Nothing lost, nothing doubled: a line in another encoding, an Excel formula without a
saved value, rows with only an id after a blank line. Each test knows what it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmreport.engine import Connection, connect
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources

NAMES = ("Müller", "Jörg", "Schäfer", "Weiß", "Köhler", "Bäcker", "Ærø", "Zoë")
ROWS = 300
# A row of 300 bytes or so: 3,000 rows put the odd line past the sniffer's 256 kB sample.
PAD = "x" * 200


def _name(i: int) -> str:
    return f"{NAMES[i % len(NAMES)]} {i}"


def _write(path: Path, primary: str, odd: str, at: int, rows: int, pad: str = "") -> None:
    lines = [b"customer_id,email,first_name,note\n"]
    for i in range(rows):
        line = f"C{i},c{i}@example.de,{_name(i)},{pad}\n"
        lines.append(line.encode(odd if i == at else primary))
    path.write_bytes(b"".join(lines))


def _load(con: Connection, path: Path, table: str = "customers"):  # type: ignore[no-untyped-def]
    staged = load_sources(con, [SourceFile(table, path)])
    identify_tables(con, staged, "EUR")
    return staged.account.files[0]


CASES = [("utf-8", "cp1252", at, ROWS, "") for at in (0, 150, ROWS - 1)] + [
    ("utf-8", "cp1252", 2900, 3000, PAD),  # past the sniffed sample
    *[("cp1252", "utf-8", at, ROWS, "") for at in (0, 150, ROWS - 1)],
    ("cp1252", "utf-8", 2900, 3000, PAD)]


@pytest.mark.parametrize(("primary", "odd", "at", "rows", "pad"), CASES)
def test_a_row_in_another_encoding_is_read_right_or_quarantined(
        tmp_path: Path, primary: str, odd: str, at: int, rows: int, pad: str) -> None:
    path = tmp_path / "customers.csv"
    _write(path, primary, odd, at, rows, pad)
    con = connect()
    entry = _load(con, path)
    names = dict(con.execute("SELECT customer_id, first_name FROM customers").fetchall())
    others = {f"C{i}": _name(i) for i in range(rows) if i != at}
    assert {k: v for k, v in names.items() if k != f"C{at}"} == others
    assert entry.rows_in == rows and entry.balanced
    if primary == "utf-8":  # a line not in the file's encoding: quarantined, with its line
        assert f"C{at}" not in names
        assert dict(entry.reasons) == {"wrong_encoding": 1}
        lines = con.execute("SELECT line FROM quarantine").fetchall()
        assert lines == [(at + 2,)]  # the header is line 1
    else:  # a UTF-8 line in a Windows-1252 file: read as UTF-8, flagged
        assert names[f"C{at}"] == _name(at)
        assert dict(entry.flags) == {"mixed_encoding": 1}
        assert entry.read["utf8_lines"] == [at + 2]


def _workbook(path: Path, rows: list[list[object]]) -> None:
    """An .xlsx as a program writes it: formulas stored without their values."""
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)


def test_a_formula_without_a_saved_value_quarantines_its_row(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    _workbook(path, [["order_id", "customer_id", "order_date", "amount"],
                     ["O1", "C1", "2024-03-01", 10.5],
                     ["O2", "C2", "2024-03-02", "=B2*2"],  # no value saved
                     ["O3", "C3", "2024-03-03", 7],
                     ["O4", "C4", "=TODAY()", "=D2+1"]])  # two of them in one row
    con = connect()
    entry = _load(con, path, "orders")
    assert entry.rows_in == 4 and entry.balanced
    assert entry.quarantined == 2 and dict(entry.reasons) == {"formula_without_value": 2}
    assert sorted(r[0] for r in con.execute("SELECT order_id FROM orders").fetchall()) \
        == ["O1", "O3"]
    got = con.execute("SELECT line, reason, data FROM quarantine ORDER BY line").fetchall()
    assert got == [(3, "formula_without_value", "O2,C2,2024-03-02,=B2*2"),
                   (5, "formula_without_value", "O4,C4,=TODAY(),=D2+1")]


def test_a_formula_row_at_the_end_is_not_taken_for_a_footer(tmp_path: Path) -> None:
    """An id and formulas only: without their values it would look like a one-cell row."""
    path = tmp_path / "customers.xlsx"
    _workbook(path, [["customer_id", "email", "first_name"],
                     ["C1", "a@example.de", "Anna"], [],
                     ["C2", "=LOWER(\"B@EXAMPLE.DE\")", "=PROPER(\"ben\")"]])
    entry = _load(connect(), path)
    assert entry.rows_in == 2 and entry.balanced
    assert dict(entry.reasons) == {"formula_without_value": 1}


CUSTOMERS = "customer_id,email,first_name\nC1,a@example.de,Anna\nC2,b@example.de,Ben\n"
ORDERS = ("order_id,customer_id,order_date,amount\nO1,C1,2024-03-01,10.50\n"
          "O2,C2,2024-03-02,20.00\n")
# What follows the data after a blank line -> (rows in it, rows read as data: loaded or
# quarantined). Footers are left out of the count; an id alone or a few fields are data.
TAILS = {
    "customers": [
        ("\nC3\n", 1), ("\nC3\nC4\n", 2), ("\n12345\n", 1), ("\nC3,c@example.de\n", 1),
        ("\nC3,,\n", 1), ("\nC3\n\nGenerated by Shop\n", 1),
        ("\nGenerated by Shop\n", 0), ("\nTotal: 2 customers\n", 0),
        ("\nTotal,2,\n", 0), ("\n\nExported 2024-03-01 10:00\n(c) 2024 Shop\n", 0)],
    "orders": [
        ("\nO3\n", 1), ("\nO3,C1\n", 1), ("\nO3,C1,2024-03-03\n", 1),
        ("\nO3\nO4\n\nTotal,,,30.50\n", 2), ("\nTotal,,,30.50\n", 0),
        ("\nSumme: 30,50 EUR\n", 0)],
}


@pytest.mark.parametrize(("table", "tail", "extra"),
                         [(t, tail, n) for t, cases in TAILS.items() for tail, n in cases])
def test_rows_after_a_blank_line_are_data_unless_they_look_like_a_footer(
        tmp_path: Path, table: str, tail: str, extra: int) -> None:
    path = tmp_path / f"{table}.csv"
    path.write_text((CUSTOMERS if table == "customers" else ORDERS) + tail, encoding="utf-8")
    con = connect()
    entry = _load(con, path, table)
    assert entry.rows_in == 2 + extra and entry.balanced and entry.merged == 0
    key = "customer_id" if table == "customers" else "order_id"
    loaded = {r[0] for r in con.execute(f"SELECT {key} FROM {table}").fetchall()}
    assert loaded >= ({"C1", "C2"} if table == "customers" else {"O1", "O2"})
    # A short row is ragged, quarantined; a full-width one (C3,,) is loaded.
    assert len(loaded) - 2 + entry.quarantined == extra


def test_an_id_only_excel_row_after_a_blank_row_is_data(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    _workbook(path, [["customer_id", "email", "first_name"], ["C1", "a@example.de", "Anna"],
                     [], ["C2"], [], ["Generated by Shop"]])
    con = connect()
    entry = _load(con, path)
    assert entry.rows_in == 2 and entry.balanced
    assert entry.read["footer_lines"] == 2  # the blank row and the text below it
    assert sorted(r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()) \
        == ["C1", "C2"]
