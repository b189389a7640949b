"""Net revenue on hand-computed orders: credit notes, full reversals, cut-offs at as_of."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.features import compute_features
from crmreport.features.net_orders import classify_orders
from crmreport.features.value_models import summary_sql
from crmreport.tables import INPUTS, NET_ORDERS

AS_OF = dt.date(2026, 3, 1)

# (order id, customer, day, amount, status); the expected figures are worked out beside them.
ORDERS = [
    # C1: cancelled the same day by a credit note, then one real order
    ("O1", "C1", "2026-01-10", "100.00", "completed"),
    ("O1C", "C1", "2026-01-10", "-100.00", "cancelled"),
    ("O2", "C1", "2026-02-01", "40.00", "completed"),
    # C2: two equal orders, a later credit note reverses the latest one (O4)
    ("O3", "C2", "2026-01-05", "80.00", "completed"),
    ("O4", "C2", "2026-01-20", "80.00", "completed"),
    ("O4C", "C2", "2026-02-10", "-80.00", "refunded"),
    # C3: a partial credit note subtracts on its own day; the order stays a purchase
    ("O5", "C3", "2026-01-15", "100.00", "completed"),
    ("O5C", "C3", "2026-02-01", "-30.00", "refunded"),
    # C4: the reversal is dated on the as-of day: not known yet
    ("O6", "C4", "2026-02-15", "60.00", "completed"),
    ("O6C", "C4", "2026-03-01", "-60.00", "cancelled"),
    # C5: a refunded order with a positive amount is cancelled in full
    ("O7", "C5", "2026-01-08", "50.00", "refunded"),
    ("O8", "C5", "2026-02-08", "20.00", "completed"),
    # C6: an order ON the as-of day is not counted
    ("O9", "C6", "2026-02-01", "10.00", "completed"),
    ("O10", "C6", "2026-03-01", "25.00", "completed"),
    # C7: a credit note dated before the equal order reverses nothing
    ("O11C", "C7", "2026-01-01", "-50.00", "cancelled"),
    ("O12", "C7", "2026-01-05", "50.00", "completed"),
    # C8: two purchase days; a partial credit note on the second one nets it to 30
    ("O13", "C8", "2026-01-10", "100.00", "completed"),
    ("O14", "C8", "2026-02-10", "50.00", "completed"),
    ("O14C", "C8", "2026-02-10", "-20.00", "refunded"),
]


def _shop(orders: list[tuple[str, str, str, str, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in INPUTS:
        con.execute(table.create())
    customers = sorted({o[1] for o in orders})
    con.executemany("INSERT INTO customers (customer_id) VALUES (?)", [[c] for c in customers])
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, ordered_at, amount, "
                    "status) VALUES (?, ?, ?, CAST(? AS TIMESTAMPTZ), ?, ?)",
                    [(i, c, d, d, a, s) for i, c, d, a, s in orders])
    return con


def _features(as_of: dt.date) -> dict[str, dict[str, object]]:
    con = _shop(ORDERS)
    compute_features(con, as_of)
    cursor = con.execute("SELECT * FROM features")
    names = [d[0] for d in cursor.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def _pick(row: dict[str, object], *columns: str) -> tuple[object, ...]:
    return tuple(row[c] for c in columns)


COLUMNS = ("orders", "repeat_orders", "monetary", "cancelled_orders", "first_order_date",
           "last_order_date")


def test_features_follow_the_net_revenue_rule() -> None:
    f = _features(AS_OF)
    day = dt.date.fromisoformat
    expected = {
        "C1": (1, 0, Decimal("40.00"), 1, day("2026-02-01"), day("2026-02-01")),
        "C2": (1, 0, Decimal("80.00"), 1, day("2026-01-05"), day("2026-01-05")),
        "C3": (1, 0, Decimal("70.00"), 0, day("2026-01-15"), day("2026-01-15")),
        "C4": (1, 0, Decimal("60.00"), 0, day("2026-02-15"), day("2026-02-15")),
        "C5": (1, 0, Decimal("20.00"), 1, day("2026-02-08"), day("2026-02-08")),
        "C6": (1, 0, Decimal("10.00"), 0, day("2026-02-01"), day("2026-02-01")),
        "C7": (1, 0, Decimal("0.00"), 0, day("2026-01-05"), day("2026-01-05")),
        "C8": (2, 1, Decimal("130.00"), 0, day("2026-01-10"), day("2026-02-10")),
    }
    assert {c: _pick(row, *COLUMNS) for c, row in f.items()} == expected
    assert f["C3"]["avg_order_value"] == Decimal("70.00")
    assert f["C1"]["recency_days"] == 28 and f["C2"]["tenure_days"] == 55


def test_a_day_later_the_reversal_and_the_order_on_the_as_of_day_are_known() -> None:
    f = _features(AS_OF + dt.timedelta(days=1))
    assert _pick(f["C4"], "orders", "monetary", "cancelled_orders") == (0, Decimal("0.00"), 1)
    assert f["C4"]["rfm_segment"] == "prospect"
    assert _pick(f["C6"], "orders", "monetary") == (2, Decimal("35.00"))


def test_value_model_inputs_count_net_purchase_days() -> None:
    con = _shop(ORDERS)
    classify_orders(con)
    rows = {r[0]: r[1:] for r in con.execute(summary_sql(f"DATE '{AS_OF}'")).fetchall()}
    # C8: purchase days 01-10 (100) and 02-10 (50 - 20 = 30): one repeat day worth 30,
    # 31 days apart, T from 01-10 to the last observed day 02-28 (49 days)
    assert rows["C8"] == (1, pytest.approx(31 / 7), pytest.approx(49 / 7), 30.0)
    # C1's cancelled day 01-10 is no purchase day: its first purchase day is 02-01
    assert rows["C1"] == (0, 0.0, pytest.approx(27 / 7), 0.0)
    # C3's day of a credit note alone is no purchase day
    assert rows["C3"][0] == 0
    assert set(rows) == {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"}


def test_classification_names_what_reverses_what() -> None:
    con = _shop(ORDERS)
    classify_orders(con)
    rows = {r[0]: r[1:] for r in con.execute(
        f"SELECT order_id, kind, cancelled_on, reverses FROM {NET_ORDERS}").fetchall()}
    assert rows["O4"] == ("purchase", dt.date(2026, 2, 10), None)
    assert rows["O4C"] == ("credit", None, "O4")
    assert rows["O3"] == ("purchase", None, None)
    assert rows["O7"] == ("cancelled", None, None)
    assert rows["O11C"] == ("credit", None, None) and rows["O5C"] == ("credit", None, None)


def _reversals(events: list[tuple[int, int, bool]]) -> dict[int, int]:
    """Independent statement of the rule: walk one customer's rows in time, each credit note
    taking the latest earlier (or same-day) unreversed order of the same absolute amount."""
    open_orders: dict[int, list[tuple[int, int]]] = {}
    taken: dict[int, int] = {}
    order = sorted(range(len(events)), key=lambda i: (events[i][0], events[i][2], i))
    for i in order:
        day, size, credit = events[i]
        stack = open_orders.setdefault(size, [])
        if not credit:
            stack.append((day, i))
        elif stack:
            taken[stack.pop()[1]] = i
    return taken


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from([10, 20]), st.booleans()),
                min_size=1, max_size=12))
def test_reversal_matches_a_plain_walk_through_the_orders(
    events: list[tuple[int, int, bool]]
) -> None:
    # ids sort in list order within a day, as the walk breaks ties by position
    rows = [(f"R{i:02d}", "C", str(dt.date(2026, 1, 1) + dt.timedelta(days=day)),
             str(-size if credit else size), "completed")
            for i, (day, size, credit) in enumerate(events)]
    con = _shop(rows)
    classify_orders(con)
    got = dict(con.execute(f"SELECT reverses, order_id FROM {NET_ORDERS} "
                           "WHERE reverses IS NOT NULL").fetchall())
    assert got == {f"R{o:02d}": f"R{c:02d}" for o, c in _reversals(events).items()}


def test_purchase_days_are_days_with_a_purchase_netting_to_zero_or_more() -> None:
    con = _shop([
        ("P1", "C1", "2026-01-10", "10.00", "completed"),
        ("P1C", "C1", "2026-01-10", "-15.00", "refunded"),  # a partial credit: nets to -5
        ("P2", "C1", "2026-01-20", "0.00", "completed"),  # a free purchase counts
        ("P3C", "C1", "2026-01-25", "-5.00", "refunded"),  # credit notes only: no day
        ("P4", "C1", "2026-02-01", "20.00", "completed"),
        ("P5", "C1", "2026-02-01", "5.00", "completed"),  # same day: one day worth 25
        ("P6", "C1", "2026-03-01", "9.00", "completed"),  # on the as-of day: not yet
    ])
    classify_orders(con)
    days = con.execute(f"SELECT order_date::VARCHAR, amount FROM purchase_days(DATE '{AS_OF}') "
                       "ORDER BY order_date").fetchall()
    assert days == [("2026-01-20", Decimal("0.00")), ("2026-02-01", Decimal("25.00"))]
