from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crmreport.engine import connect
from crmreport.errors import DataError
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources


def test_missing_required_column_names_file_column_and_closest_match(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("orderid,customer_id,order_date,amount\nO1,C1,2026-01-01,5\n")
    with pytest.raises(DataError) as info:
        load_sources(connect(), [SourceFile("orders", path)])
    message = str(info.value)
    assert str(path) in message
    assert "required column 'order_id'" in message
    assert "closest match: 'orderid'" in message
    assert "Columns found: orderid, customer_id, order_date, amount" in message


def test_ragged_rows_are_counted_as_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text('customer_id,email\nC1,a@b.de\nC2,b@b.de,extra\n"C3","multi\nline"\nC4\n')
    con = connect()
    staged = load_sources(con, [SourceFile("customers", path)])
    identify_tables(con, staged, "EUR")
    entry = staged.account.files[0]
    assert entry.rows_in == 4
    assert entry.reasons == {"malformed_row": 2}
    assert con.execute("SELECT customer_id FROM customers").fetchall() == [("C1",), ("C3",)]
    rejected = con.execute("SELECT line, reason FROM quarantine ORDER BY line").fetchall()
    # Records as the parser counts them: the header is 1, a quoted line break does not count.
    assert rejected == [(3, "malformed_row"), (5, "malformed_row")]


def test_explicit_mapping_and_parquet(tmp_path: Path) -> None:
    path = tmp_path / "kunden.parquet"
    pq.write_table(pa.table({"Kundennummer": [1, 2], "Mail": ["a@b.de", None]}), path)
    con = connect()
    staged = load_sources(con, [SourceFile("customers", path, {"customer_id": "Kundennummer",
                                                               "email": "Mail"})])
    identify_tables(con, staged, "EUR")
    rows = con.execute("SELECT customer_id, email FROM customers").fetchall()
    assert rows == [("1", "a@b.de"), ("2", None)]


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "empty"), (b"\x00\x01\x02\xff\xfe" * 50, "cannot be read")],
)
def test_unreadable_files_say_why(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=needle):
        load_sources(connect(), [SourceFile("customers", path)])


def test_unknown_preset_and_unknown_mapped_column(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("customer_id\nC1\n")
    with pytest.raises(DataError, match="did you mean 'crmreport'"):
        load_sources(connect(), [SourceFile("customers", path, "crmreprt")])
    with pytest.raises(DataError, match="unknown customers column"):
        load_sources(connect(), [SourceFile("customers", path, {"kunde": "customer_id"})])


def test_a_missing_header_row_is_named_without_echoing_the_customer(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("C1,Anna,Schmidt,anna.schmidt@example.de,Hauptstr 5\n"
                    "C2,Ben,Lang,ben@example.de,Weg 1\n")
    with pytest.raises(DataError) as info:
        load_sources(connect(), [SourceFile("customers", path)])
    message = str(info.value)
    assert "looks like data, not a header row" in message
    assert "anna" not in message.lower() and "Schmidt" not in message
