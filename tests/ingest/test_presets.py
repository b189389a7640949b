"""Each preset on small files written the way those systems write them (tests/data/presets)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from crmreport.account import Account
from crmreport.engine import connect
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources
from crmreport.ingest.presets.base import number

DATA = Path(__file__).resolve().parents[1] / "data"
PRESETS = DATA / "presets"


def run(*sources: tuple[str, str, str], currency: str = "EUR",
        match: tuple[tuple[str, ...], ...] = (("email",),)) -> tuple:
    con = connect()
    staged = load_sources(con, [SourceFile(t, PRESETS / f, m) for t, f, m in sources])
    identify_tables(con, staged, currency, match=match)
    account = staged.account
    assert all(f.balanced for f in account.files)
    return con, account


def by_name(account: Account) -> dict:
    return {Path(f.path).name: f for f in account.files}


def test_shopify_detected_line_items_merged_refunds_netted_tests_flagged() -> None:
    con, account = run(("customers", "shopify_customers.csv", "crmreport"),
                       ("orders", "shopify_orders.csv", "crmreport"))
    files = by_name(account)
    orders = files["shopify_orders.csv"]
    assert orders.preset == "shopify" and orders.tables == ["orders", "order_lines"]
    assert (orders.rows_in, orders.loaded, orders.merged) == (7, 6, 1)
    assert orders.reasons == {"order_line": 1}
    assert orders.flags == {"guest_order": 1, "test_order": 1}
    rows = dict(con.execute("SELECT order_id, (amount, status, customer_id, order_date::VARCHAR) "
                            "FROM orders").fetchall())
    assert rows["#1001"] == (Decimal("94.90"), "completed", "anna.mueller@example.de",
                             "2024-03-30")  # local day, though 22:15 UTC the same day
    assert rows["#1002"][:2] == (Decimal("40.00"), "completed")  # 55 - 15 refunded
    assert rows["#1003"][:2] == (Decimal("0.00"), "refunded")
    assert rows["#1004"][1] == "cancelled"
    assert rows["#1006"][2] is None  # guest: no e-mail
    assert con.execute("SELECT count(*) FROM order_lines WHERE order_id = '#1001'").fetchone() \
        == (2,)
    customers = files["shopify_customers.csv"]
    assert customers.flags["test_customer"] == 1
    zips = dict(con.execute("SELECT customer_id, postal_code FROM customers").fetchall())
    assert zips["anna.mueller@example.de"] == "01067" and zips["carla@example.it"] == "00184"


def test_woocommerce_unpaid_quarantined_and_orders_never_matched_by_name() -> None:
    con, account = run(("customers", "woocommerce_customers.csv", "woocommerce"),
                       ("orders", "woocommerce_orders.csv", "crmreport"))
    files = by_name(account)
    assert files["woocommerce_customers.csv"].read["encoding"] == "utf-8-sig"
    assert files["woocommerce_customers.csv"].flags == {"guest_customer": 1}
    orders = files["woocommerce_orders.csv"]
    assert orders.preset == "woocommerce"
    assert orders.reasons == {"unpaid_order": 2}
    assert orders.flags["customer_not_identified"] == 3
    assert con.execute("SELECT amount FROM orders WHERE order_id = '1201'").fetchone() == (
        Decimal("1234.50"),)
    assert con.execute("SELECT count(*) FROM orders WHERE customer_id IS NOT NULL").fetchone() \
        == (0,)


def test_hubspot_consent_and_shared_email() -> None:
    con, account = run(("customers", "hubspot_contacts.csv", "crmreport"), match=())
    entry = account.files[0]
    assert entry.preset == "hubspot" and entry.loaded == 4
    assert entry.flags == {"shared_email": 2}  # two record ids, one address: both kept
    consent = dict(con.execute("SELECT customer_id, email_consent FROM customers").fetchall())
    assert consent == {"51": "yes", "52": "no", "53": "unknown", "54": "no"}
    assert con.execute("SELECT country FROM customers WHERE customer_id = '51'").fetchone() \
        == ("DE",)


def test_hubspot_records_sharing_an_address_are_one_person_by_default() -> None:
    con, account = run(("customers", "hubspot_contacts.csv", "crmreport"))
    entry = account.files[0]
    assert (entry.loaded, entry.merged, entry.reasons) == (3, 1, {"same_person": 1})
    assert not entry.flags  # the shared address is merged, no longer flagged
    # 54 (ANNA@ lower-cased) joins 51, the first record; its 'no' withdraws 51's 'yes'
    consent = dict(con.execute("SELECT customer_id, email_consent FROM customers").fetchall())
    assert consent == {"51": "no", "52": "no", "53": "unknown"}


def test_salesforce_footer_skipped_and_us_dates() -> None:
    con, account = run(("customers", "salesforce_contacts.csv", "crmreport"))
    entry = account.files[0]
    assert entry.preset == "salesforce"
    assert (entry.rows_in, entry.loaded) == (2, 2)
    assert entry.read["footer_lines"] == 5
    rows = con.execute("SELECT customer_id, signup_date::VARCHAR, email_consent, street "
                       "FROM customers ORDER BY 1").fetchall()
    assert rows == [("0035g00000AbCdEAAZ", "2024-01-05", "unknown", "Hauptstraße 1"),
                    ("0035g00000AbCdFAAZ", "2023-12-31", "no", "1 High St\nFloor 2")]


def test_de_erp_csv_cp1252_semicolon_decimal_comma_and_excel() -> None:
    con, account = run(("customers", "de_erp_kunden.csv", "crmreport"),
                       ("orders", "de_erp_belege.csv", "de-erp"),
                       ("customers", "de_erp_kunden.xlsx", "de-erp"),
                       match=())  # the two exports share records: kept apart to read each
    files = by_name(account)
    csv_entry = files["de_erp_kunden.csv"]
    assert csv_entry.read == {"encoding": "cp1252", "delimiter": ";", "decimal": ",",
                              "info_lines": 2}
    assert csv_entry.reasons == {"mangled_customer_id": 1}  # 1,67E+13: never guessed
    names = dict(con.execute("SELECT customer_id, last_name FROM customers").fetchall())
    assert names["00019"] == "„Café“ Groß"  # cp1252 0x84 0x93, not Latin-1 control codes
    consent = dict(con.execute("SELECT customer_id, email_consent FROM customers").fetchall())
    assert (consent["00017"], consent["00018"], consent["00019"]) == ("yes", "no", "yes")
    amounts = dict(con.execute("SELECT order_id, (amount, status, order_date::VARCHAR) "
                               "FROM orders").fetchall())
    assert amounts["R-1001"] == (Decimal("1234.56"), "completed", "2024-12-31")
    assert amounts["G-1003"][:2] == (Decimal("-99.90"), "refunded")
    assert amounts["R-1004"][1] == "cancelled"
    excel = files["de_erp_kunden.xlsx"]
    assert excel.read == {"format": "excel", "info_lines": 2, "footer_lines": 2}
    assert (excel.rows_in, excel.quarantined) == (3, 1)  # 1.67E+16 as a number: mangled
    assert names["17"] == "Müller"  # ids never become floats ('17', not '17.0')


def test_cdnow_master_header_and_sample_without_one(tmp_path: Path) -> None:
    sample = DATA / "cdnow" / "CDNOW_sample.txt"
    con = connect()
    staged = load_sources(con, [SourceFile("orders", sample, "crmreport")])
    identify_tables(con, staged, "USD")
    account = staged.account
    entry = account.files[0]
    lines = [line.split() for line in sample.read_text().splitlines() if line.strip()]
    days = {(f[0], f[2]) for f in lines}
    assert entry.preset == "cdnow" and entry.balanced
    assert (entry.rows_in, entry.loaded) == (len(lines), len(days)) == (6919, len(days))
    assert entry.reasons == {"same_day_purchase": len(lines) - len(days)}
    total = sum(Decimal(f[4]) for f in lines)
    assert con.execute("SELECT sum(amount) FROM orders").fetchone() == (total,)
    assert con.execute("SELECT min(customer_id) FROM orders").fetchone() == ("00004",)
    master = tmp_path / "CDNOW_master.txt"
    master.write_text(" customer_id  date number_of_cds  dollar_value\r\n"
                      " 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n"
                      " 00002 19970112  5   77.00\r\n")
    con = connect()
    staged = load_sources(con, [SourceFile("orders", master, "cdnow")])
    identify_tables(con, staged, "USD")
    account = staged.account
    assert (account.files[0].rows_in, account.files[0].loaded) == (3, 2)
    assert con.execute("SELECT amount FROM orders WHERE customer_id = '00002'").fetchone() == (
        Decimal("89.00"),)


@pytest.mark.parametrize(("decimal", "written", "canonical"), [
    (".", "1,234.56", "1234.56"), (".", "€ 12.50", "12.50"), (".", "$1,234", "1234"),
    (".", "-3.20", "-3.20"), (".", "1,5", "1,5"), (".", "EUR 1,5", "EUR 1,5"),
    (",", "1.234,56", "1234.56"), (",", "€ 1.234,56", "1234.56"), (",", "12,50 EUR", "12.50"),
    (",", "1.2,3", "1.2,3"),
])
def test_numbers_are_made_canonical_and_ambiguous_ones_left_to_fail(
        decimal: str, written: str, canonical: str) -> None:
    """A group separator counts only in strict groups of three: '1,5' never becomes 15."""
    sql = f"SELECT {number('x', decimal)} FROM (SELECT ?::VARCHAR AS x)"
    assert connect().execute(sql, [written]).fetchall() == [(canonical,)]
