"""The online-retail preset against counts computed independently with the csv module."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest

from crmreport.engine import connect
from crmreport.identify import identify_tables, write_quarantine
from crmreport.ingest import SourceFile, load_sources

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ROOT / "tests" / "data" / "online_retail" / "online_retail_2010-12.csv.gz"
FULL = ROOT / "tests" / "data" / "online_retail" / "online_retail.csv.gz"
FEES = {"POST", "DOT", "C2", "M", "BANK CHARGES", "AMAZONFEE", "CRUK", "D", "S", "B"}


def independent(path: Path) -> dict[str, int]:
    """The figures the account must show, from the file alone."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    seen: set[tuple[str, ...]] = set()
    out: Counter[str] = Counter(rows=len(rows))
    invoices: set[str] = set()
    cancelled: set[str] = set()
    for row in rows:
        out["guest_rows_all"] += not row["CustomerID"]
        key = tuple(row.values())
        if key in seen:
            out["duplicate_line"] += 1
            out["guest_row"] += not row["CustomerID"]
            continue
        seen.add(key)
        if row["StockCode"].upper() in FEES:
            out["fee_line"] += 1
        elif float(row["Quantity"]) < 0 and not row["InvoiceNo"].startswith("C"):
            out["stock_adjustment"] += 1
        else:
            out["kept"] += 1
            out["guest_row"] += not row["CustomerID"]
            invoices.add(row["InvoiceNo"])
            if row["InvoiceNo"].startswith("C"):
                cancelled.add(row["InvoiceNo"])
    out["orders"] = len(invoices)
    out["cancelled_orders"] = len(cancelled)
    out["order_line"] = out["kept"] - len(invoices)
    return dict(out)


def run(path: Path) -> tuple:
    con = connect()
    staged = load_sources(con, [SourceFile("orders", path, "online-retail")])
    identify_tables(con, staged, "GBP")
    account = staged.account
    return con, account.files[0]


@pytest.mark.parametrize("path", [
    SUBSET,
    FULL,
])
def test_every_row_is_accounted_for_as_the_file_says(path: Path) -> None:
    expected = independent(path)
    con, entry = run(path)
    assert entry.balanced
    assert entry.rows_in == expected["rows"]
    assert entry.reasons == {k: expected[k] for k in (
        "duplicate_line", "fee_line", "stock_adjustment", "order_line")}
    assert entry.loaded == expected["orders"]
    assert entry.flags["guest_row"] == expected["guest_row"]
    assert con.execute("SELECT count(*) FILTER (WHERE status = 'cancelled'), count(*) "
                       "FROM orders").fetchone() == (expected["cancelled_orders"],
                                                     expected["orders"])
    assert con.execute("SELECT count(*) FROM order_lines").fetchone() == (expected["kept"],)
    if path == FULL:  # the published figures
        assert (expected["rows"], expected["guest_rows_all"],
                expected["duplicate_line"]) == (541_909, 135_080, 5_268)


def test_ids_amounts_and_cancellations(tmp_path: Path) -> None:
    con, _ = run(SUBSET)
    ids = con.execute("SELECT count(*) FILTER (WHERE customer_id LIKE '%.%'), "
                      "count(DISTINCT customer_id) FROM orders").fetchone()
    assert ids is not None and ids[0] == 0 and ids[1] > 800
    first = con.execute("SELECT customer_id, amount::VARCHAR, status, currency FROM orders "
                        "WHERE order_id = '536365'").fetchone()
    assert first == ("17850", "139.12", "completed", "GBP")  # 7 lines, summed exactly
    credit = con.execute("SELECT status, amount < 0 FROM orders WHERE order_id LIKE 'C%' "
                         "LIMIT 1").fetchone()
    assert credit == ("cancelled", True)
    assert con.execute("SELECT typeof(amount) FROM orders LIMIT 1").fetchone() == (
        "DECIMAL(18,2)",)
    written = write_quarantine(con, tmp_path / "quarantine.csv", [str(SUBSET)])
    lines = (tmp_path / "quarantine.csv").read_text(encoding="utf-8").splitlines()
    assert written == len(lines) - 1 > 0
    assert lines[0] == "table,file,row,line,reason,values"


def test_fractional_and_mangled_customer_ids_are_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "or.csv"
    path.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,A,x,1,2011-01-01 10:00:00,1.00,17850.0,United Kingdom\n"
        "2,A,x,1,2011-01-01 10:00:00,1.00,17850.5,United Kingdom\n"
        "3,A,x,1,2011-01-01 10:00:00,1.00,1.785E+04,United Kingdom\n"
        "4,POST,postage,1,2011-01-01 10:00:00,18.00,17850.0,United Kingdom\n")
    con, entry = run(path)
    assert entry.reasons == {"fractional_customer_id": 1, "mangled_customer_id": 1,
                             "fee_line": 1}
    assert con.execute("SELECT order_id, customer_id FROM orders").fetchall() == [("1", "17850")]
