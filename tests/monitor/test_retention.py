import datetime as dt

import duckdb
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.retention import cohort_matrix, retention_curve
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
