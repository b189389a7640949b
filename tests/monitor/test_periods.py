"""Period figures against a hand computation on two known weeks (2026-W08 and 2026-W09)."""

import datetime as dt

import duckdb
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.periods import (
    Period,
    last_complete_period,
    period_containing,
    period_summary,
)
from crmreport.tables import CONTACTS, ORDERS

AS_OF = dt.date(2026, 3, 2)  # a Monday: W09 (23 Feb - 1 Mar) is the last complete week

ORDER_ROWS = [
    # customer, day, amount, status
    ("A", dt.date(2026, 1, 5), 20.00, "completed"),  # A's first purchase, in W02
    ("A", dt.date(2026, 2, 17), 100.00, "completed"),  # W08
    ("B", dt.date(2026, 2, 20), 30.00, "completed"),  # W08, B's first: new in W08
    ("A", dt.date(2026, 2, 24), 50.00, "completed"),  # W09
    ("C", dt.date(2026, 2, 25), 80.00, "completed"),  # W09, C's first: new in W09
    ("C", dt.date(2026, 2, 26), -10.00, "completed"),  # a partial credit note in W09
    ("D", dt.date(2026, 3, 1), 40.00, "cancelled"),  # no purchase, no revenue
    ("F", dt.date(2026, 2, 23), 60.00, "completed"),  # reversed on 27 Feb: not counted
    ("F", dt.date(2026, 2, 27), -60.00, "completed"),
    ("E", dt.date(2026, 3, 2), 999.00, "completed"),  # on the as-of day: not yet
    (None, dt.date(2026, 2, 24), 500.00, "completed"),  # a guest order: no customer
    # the campaign below: T1 buys in its window (W06)
    ("T1", dt.date(2026, 2, 3), 40.00, "completed"),
]
# contacted 1 Feb, window 7 days: measured once 1 Feb + 7 < the day after a period's end
CONTACT_ROWS = [("T1", "treatment"), ("T2", "treatment"), ("K1", "control"), ("K2", "control")]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in (ORDERS, CONTACTS):
        columns = ", ".join(f"{c} {t}" for c, t in table.columns.items())
        con.execute(f"CREATE TABLE {table} ({columns})")
    for n, (customer, day, amount, status) in enumerate(ORDER_ROWS):
        con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?, ?, ?)", [f"o{n}", customer, day, amount, status])
    for customer, group in CONTACT_ROWS:
        con.execute("INSERT INTO contacts (run_id, campaign, customer_id, contacted_at, channel,"
                    " segment, test_group) VALUES ('r1', 'feb', ?, DATE '2026-02-01', 'email',"
                    " 'all', ?)", [customer, group])
    classify_orders(con)
    return con


def test_periods_by_hand() -> None:
    assert period_containing("week", dt.date(2026, 3, 1)) == Period(
        "week", dt.date(2026, 2, 23), dt.date(2026, 3, 1))
    assert last_complete_period("week", AS_OF).slug == "2026-W09"
    # as of Sunday 1 March that week still lacks its Sunday: W08 is reported
    assert last_complete_period("week", dt.date(2026, 3, 1)).slug == "2026-W08"
    assert last_complete_period("month", AS_OF) == Period(
        "month", dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert last_complete_period("quarter", AS_OF) == Period(
        "quarter", dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    assert last_complete_period("quarter", AS_OF).slug == "2025-Q4"
    assert last_complete_period("month", dt.date(2026, 1, 1)).slug == "2025-12"
    # ISO week 1 of 2021 starts on 4 January; 3 January 2021 is in 2020-W53
    assert period_containing("week", dt.date(2021, 1, 3)).slug == "2020-W53"


def test_two_weeks_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    summary = period_summary(con, "week", AS_OF, 7, {"email": 1.0}, equity=123.0)
    assert [p.period.slug for p in summary.periods] == [
        "2026-W02", "2026-W03", "2026-W04", "2026-W05", "2026-W06", "2026-W07", "2026-W08",
        "2026-W09"]
    w09, w08 = summary.current, summary.previous
    assert w08 is not None
    # W09: A 50 + C 80 - C's credit 10 = 120; F's reversed order, D's cancelled one, the
    # guest order and E's order on the as-of day do not count
    assert w09.revenue == pytest.approx(120.00)
    assert (w09.active, w09.new) == (2, 1)  # A and C; C is new
    assert (w09.retained, w09.base) == (1, 2)  # of W08's A and B, A bought again
    assert w09.retention == pytest.approx(0.5)
    assert w08.revenue == pytest.approx(130.00)
    assert (w08.active, w08.new, w08.base) == (2, 1, 0)  # W07 had no buyers
    assert w08.retention is None
    w06 = summary.periods[4]
    assert (w06.period.slug, w06.revenue, w06.active, w06.new) == ("2026-W06", 40.0, 1, 1)
    assert summary.equity == 123.0


def test_campaign_measured_once_its_window_closed(con: duckdb.DuckDBPyConnection) -> None:
    summary = period_summary(con, "week", AS_OF, 7, {"email": 1.0})
    by_slug = {p.period.slug: p for p in summary.periods}
    # W05 ends 1 Feb, the day of contact: not measured yet
    assert by_slug["2026-W05"].response.empty
    # W06 ends 8 Feb = contact + 7 days, so the window closes (1 Feb + 7 < 9 Feb):
    # treatment 40 / 2 = 20 a contact, control 0, incremental (20 - 0) x 2 = 40
    total = by_slug["2026-W06"].response.query("is_total")
    assert total["incremental_revenue"].tolist() == [pytest.approx(40.0)]
    assert total["cost"].tolist() == [pytest.approx(2.0)]
