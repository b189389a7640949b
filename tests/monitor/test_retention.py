import datetime as dt

import duckdb
import pandas as pd
import pytest

from crmreport.account import Account
from crmreport.features.net_orders import classify_orders
from crmreport.monitor import Monitoring
from crmreport.monitor.retention import (
    COLUMNS,
    Window,
    cohort_matrix,
    cohort_window,
    retention_curve,
)
from crmreport.report.format import Formatter
from crmreport.report.html import _cohort_notes, _summary
from crmreport.report.labels import LABELS
from crmreport.tables import ORDERS


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute(f"CREATE TABLE orders ({', '.join(f'{c} {t}' for c, t in ORDERS.columns.items())})")
    orders = [
        # cohort 2026-01: a, b, c, d
        ("a", "2026-01-05"), ("a", "2026-02-10"), ("a", "2026-03-02"),
        ("b", "2026-01-20"), ("b", "2026-03-14"),
        ("c", "2026-01-31"), ("c", "2026-02-01"),
        ("d", "2026-01-02"),
        # cohort 2026-02: e, f
        ("e", "2026-02-03"), ("e", "2026-03-01"), ("f", "2026-02-28"),
        # cohort 2026-03: g
        ("g", "2026-03-05"), ("g", "2026-03-20"),
        # first order long ago: not in any of the last 3 cohorts
        ("h", "2025-06-01"), ("h", "2026-02-01"),
    ]
    for i, (cid, day) in enumerate(orders):
        con.execute(
            "INSERT INTO orders (order_id, customer_id, order_date, amount, status)"
            " VALUES (?, ?, ?, 1, 'completed')", [f"o{i}", cid, day],
        )
    # Not counted: cancelled, guest, and on/after as_of.
    con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) VALUES"
                " ('x1', 'd', '2026-02-05', 1, 'cancelled'),"
                " ('x2', NULL, '2026-02-05', 1, 'completed'),"
                " ('x3', 'f', '2026-03-15', 1, 'completed'),"
                " ('x4', 'z', '2026-03-16', 1, 'completed')")
    classify_orders(con)
    return con


AS_OF = dt.date(2026, 3, 15)


def test_cohort_matrix_shares_and_completeness(con):
    m = cohort_matrix(con, AS_OF, 3)
    cells = {(r.cohort.isoformat()[:7], r.k): (r.cohort_size, r.active, r.complete)
             for r in m.itertuples()}
    assert cells == {
        ("2026-01", 0): (4, 4, True),
        ("2026-01", 1): (4, 2, True),
        ("2026-01", 2): (4, 2, False),
        ("2026-02", 0): (2, 2, True),
        ("2026-02", 1): (2, 1, False),
        ("2026-03", 0): (1, 1, False),
    }
    jan = m[m["cohort"] == dt.date(2026, 1, 1)]
    assert list(jan["share"]) == pytest.approx([1.0, 0.5, 0.5])


def test_month_is_complete_when_as_of_is_next_month_start(con):
    m = cohort_matrix(con, dt.date(2026, 3, 1), 2)
    assert set(m["cohort"]) == {dt.date(2026, 1, 1), dt.date(2026, 2, 1)}
    assert m["complete"].all()


def test_retention_curve_uses_complete_cells_only(con):
    curve = retention_curve(cohort_matrix(con, AS_OF, 3))
    assert list(curve["k"]) == [0, 1]
    assert curve.loc[1, "retention"] == pytest.approx(2 / 4)
    assert curve.loc[0, "customers"] == 6
    assert curve.loc[1, "churn"] == pytest.approx(0.5)


def test_no_cohort_is_left_censored_when_the_window_starts_after_the_data(con):
    # The data start in 2025-06 (customer h); the three months shown start in 2026-01.
    assert not cohort_matrix(con, AS_OF, 3)["left_censored"].any()


def test_window_ends_with_the_data_and_starts_no_earlier(con):
    window = cohort_window(con, dt.date(2027, 1, 1), 36)
    assert window == Window(first=dt.date(2025, 6, 1), last=dt.date(2026, 3, 1),
                            data_start=dt.date(2025, 6, 1), data_end=dt.date(2026, 3, 1))
    m = cohort_matrix(con, dt.date(2027, 1, 1), 36)
    censored = set(m.loc[m["left_censored"], "cohort"])
    assert censored == {dt.date(2025, 6, 1)}  # h's cohort: the data's first month
    assert max(m["month"]) == dt.date(2026, 3, 1)


def test_no_orders_give_an_empty_matrix_and_curve():
    empty = duckdb.connect()
    empty.execute(ORDERS.create())
    classify_orders(empty)
    assert cohort_window(empty, AS_OF, 3) is None
    m = cohort_matrix(empty, AS_OF, 3)
    assert m.empty and list(m.columns) == COLUMNS
    assert retention_curve(m).empty


def _orders(con: duckdb.DuckDBPyConnection, orders: list[tuple[str, str]]) -> None:
    con.execute(ORDERS.create())
    for i, (cid, day) in enumerate(orders):
        con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status)"
                    " VALUES (?, ?, ?, 1, 'completed')", [f"o{i}", cid, day])
    classify_orders(con)


def test_left_censored_first_cohort_is_left_out_of_the_headline():
    con = duckdb.connect()
    _orders(con, [
        # 2026-01, the data's first month: all four "new" customers buy again in February
        *[(c, "2026-01-10") for c in "abcd"], *[(c, "2026-02-10") for c in "abcd"],
        # 2026-02: one of four back in March; 2026-03: one of two back in April
        *[(c, "2026-02-15") for c in "efgh"], ("e", "2026-03-03"),
        ("i", "2026-03-04"), ("j", "2026-03-05"), ("i", "2026-04-20"),
    ])
    as_of = dt.date(2026, 6, 1)  # after the data: cells end in April, not May
    m = cohort_matrix(con, as_of, 4)
    assert sorted(set(m["cohort"])) == [dt.date(2026, m_, 1) for m_ in (1, 2, 3)]
    assert max(m["month"]) == dt.date(2026, 4, 1)
    assert set(m.loc[m["left_censored"], "cohort"]) == {dt.date(2026, 1, 1)}
    curve = retention_curve(m).set_index("k")
    # month 1 without January: (1 + 1) / (4 + 2); with it, it would be 6 / 10
    assert curve.loc[1, "retention"] == pytest.approx(2 / 6)
    assert curve.loc[1, "customers"] == 6
    monitoring = Monitoring(
        as_of=as_of, window_days=30, response=pd.DataFrame(columns=["is_total"]),
        cohorts=m, retention=retention_curve(m), account=Account(),
        segments=pd.DataFrame({"is_total": [True], "customers": [10]}),
        window=cohort_window(con, as_of, 4))
    figures = dict(_summary(monitoring, Formatter("en"), LABELS["en"])["figures"])
    assert figures["Retention in month 1"] == "33.3%"
    notes = _cohort_notes(monitoring, Formatter("de"), LABELS["de"])
    assert notes[0].startswith("Gezeigte Kohorten: Jan. 2026 bis März 2026")
    assert notes[1].startswith("† Jan. 2026 ist der erste Monat der Daten")


def test_cohorts_that_all_arrived_early_are_shown_however_late_the_as_of():
    # Like CDNOW: every customer's first order is in the first months, orders run on.
    con = duckdb.connect()
    _orders(con, [("a", "2025-01-10"), ("b", "2025-02-03"), ("a", "2026-02-10")])
    as_of = dt.date(2027, 1, 1)
    assert cohort_window(con, as_of, 3) == Window(
        first=dt.date(2025, 1, 1), last=dt.date(2025, 2, 1), data_start=dt.date(2025, 1, 1),
        data_end=dt.date(2026, 2, 1))
    m = cohort_matrix(con, as_of, 3)
    assert sorted(set(m["cohort"])) == [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
    assert max(m["month"]) == dt.date(2026, 2, 1)
    a_back = m[(m["cohort"] == dt.date(2025, 1, 1)) & (m["month"] == dt.date(2026, 2, 1))]
    assert list(a_back["k"]) == [13] and list(a_back["active"]) == [1]
    monitoring = Monitoring(
        as_of=as_of, window_days=30, response=pd.DataFrame(), cohorts=m,
        retention=retention_curve(m), segments=pd.DataFrame(), account=Account(),
        window=cohort_window(con, as_of, 3))
    assert _cohort_notes(monitoring, Formatter("en"), LABELS["en"])[0] == (
        "Cohorts shown: Jan 2025 to Feb 2025, up to the last month in which a customer made a "
        "first order before the as-of date, starting no earlier than the first month of the "
        "data; cells run to Feb 2026.")


def test_without_completed_orders_the_report_says_so():
    con = duckdb.connect()
    _orders(con, [("a", "2025-01-10")])
    con.execute("UPDATE orders SET status = 'cancelled'")
    classify_orders(con)
    m = cohort_matrix(con, dt.date(2027, 1, 1), 3)
    assert m.empty
    monitoring = Monitoring(
        as_of=dt.date(2027, 1, 1), window_days=30, response=pd.DataFrame(), cohorts=m,
        retention=retention_curve(m), segments=pd.DataFrame(), account=Account(),
        window=cohort_window(con, dt.date(2027, 1, 1), 3))
    assert _cohort_notes(monitoring, Formatter("en"), LABELS["en"]) == [
        "No customer made a completed order before the as-of date."]
