"""The churn model: days_overdue by hand, a time split that cannot see the future, NULL risk
with a reason when the history cannot support a model, and helpers against hand figures."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from crmreport.engine import Connection, connect
from crmreport.features.churn import (
    CUSTOMER_CHURN,
    MODEL_FEATURES,
    features_sql,
    fit_churn,
    precision_top_decile,
    reliability,
    skip_churn,
    split,
    splits,
)
from crmreport.features.net_orders import classify_orders
from crmreport.tables import ORDERS

AS_OF = dt.date(2026, 3, 1)


def _orders(rows: list[tuple[str, str, str]]) -> Connection:
    """(customer_id, order_date, status) rows, 10.00 each."""
    con = connect()
    con.execute(ORDERS.create())
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?::DATE, 10, ?)",
                    [(f"O{i}", c, d, s) for i, (c, d, s) in enumerate(rows)])
    classify_orders(con)  # the net rule: churn reads purchases as features do
    return con


def test_days_overdue_by_hand() -> None:
    con = _orders([
        ("A", "2026-01-01", "completed"), ("A", "2026-01-11", "completed"),
        ("A", "2026-01-21", "completed"),  # mean gap 10, silent 39 days: 29 overdue
        ("B", "2026-02-01", "completed"), ("B", "2026-02-21", "completed"),  # gap 20, 8 days
        ("C", "2026-01-01", "completed"),  # one-time, 59 days; median repeat gap (10, 20) = 15
        ("E", "2026-02-10", "completed"), ("E", "2026-02-10", "completed"),  # one day: one-time
        ("D", "2026-02-01", "cancelled"),  # no completed order: no row, so NULL in features
        ("A", "2026-03-01", "completed"),  # on as_of: not before it, not counted
    ])
    s = split(con, AS_OF, None)
    overdue = dict(zip(s.ids.tolist(), s.x[:, 5].tolist(), strict=True))
    assert overdue == {"A": 29.0, "B": 0.0, "C": 44.0, "E": 4.0}


def _shop(seed: int) -> list[tuple[str, str, str]]:
    """Customers buying at their own pace over two years, some stopping for good."""
    rng = np.random.default_rng(seed)
    rows = []
    start = dt.date(2024, 3, 1)
    for c in range(300):
        day, stop = float(rng.integers(0, 500)), float(rng.integers(100, 800))
        gap = float(rng.choice([15, 40, 120]))
        while day < min(stop, 730):
            rows.append((f"C{c:03d}", (start + dt.timedelta(days=int(day))).isoformat(),
                         "completed"))
            day += rng.exponential(gap) + 1
    return rows


def _table(con: Connection, cutoff: dt.date, n: int) -> list[tuple[object, ...]]:
    classify_orders(con)  # the orders may have changed since
    s = split(con, cutoff, n)
    assert s.y is not None
    return [(i, *x, y) for i, x, y in zip(s.ids.tolist(), s.x.tolist(), s.y.tolist(),
                                          strict=True)]


def test_training_split_uses_nothing_after_its_label_window() -> None:
    n = 90
    cutoff = AS_OF - dt.timedelta(days=2 * n)
    con = _orders(_shop(1))
    before = _table(con, cutoff, n)
    assert len(before) > 100 and 0 < sum(r[-1] for r in before) < len(before)
    window_end = (cutoff + dt.timedelta(days=n)).isoformat()
    # Rewrite everything from the end of the label window on: drop, add, move orders.
    con.execute(f"DELETE FROM orders WHERE order_date >= DATE '{window_end}' AND "
                "customer_id < 'C100'")
    con.execute(f"UPDATE orders SET order_date = order_date + 3 "
                f"WHERE order_date >= DATE '{window_end}'")
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                f"SELECT 'X' || customer_id, customer_id, DATE '{window_end}', 999, 'completed'"
                " FROM (SELECT DISTINCT customer_id FROM orders)")
    assert _table(con, cutoff, n) == before
    # ... while an order inside the window does change a label: the test can fail.
    churner = next(r[0] for r in before if r[-1] == 1)
    con.execute(f"INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                f"VALUES ('Y', '{churner}', DATE '{window_end}' - 1, 10, 'completed')")
    assert _table(con, cutoff, n) != before


def _by_macros(con: Connection, cutoff: dt.date, n: int | None) -> list[tuple[object, ...]]:
    """Orders, net revenue and (given n) churned per buyer as of ``cutoff``, from the macros
    ``net_revenue`` and ``purchases`` each stage reads."""
    c = f"DATE '{cutoff.isoformat()}'"
    churned = "NULL" if n is None else f"""(customer_id NOT IN (SELECT customer_id FROM
        purchases({c} + {n}) WHERE order_date >= {c}))::INTEGER"""
    return con.execute(f"""
        SELECT customer_id, count(*) FILTER (WHERE kind = 'purchase')::DOUBLE,
               greatest(sum(amount), 0)::DOUBLE, {churned}
        FROM net_revenue({c}) GROUP BY customer_id
        HAVING count(*) FILTER (WHERE kind = 'purchase') > 0 ORDER BY customer_id""").fetchall()


def test_the_splits_from_one_scan_agree_with_the_macros_and_read_nothing_from_as_of_on() -> None:
    n, con = 90, _orders(_shop(2))
    cutoffs = [AS_OF - dt.timedelta(days=2 * n), AS_OF - dt.timedelta(days=n), AS_OF]
    # Credit notes: reversing a purchase before the first cut-off on a day between each
    # two cut-offs (a purchase as of one, none as of the next), and a partial refund.
    for i, day in enumerate(["2025-10-01", "2025-12-15", "2026-02-20"]):
        con.execute(f"""INSERT INTO orders (order_id, customer_id, order_date, amount, status)
            SELECT 'R{i}' || customer_id, customer_id, DATE '{day}', -10, 'completed'
            FROM orders WHERE order_date < DATE '2025-09-01' AND customer_id LIKE 'C{i}%'
            GROUP BY customer_id""")
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, amount, status)
        SELECT 'P' || customer_id, customer_id, DATE '2025-11-01', -3, 'completed'
        FROM (SELECT DISTINCT customer_id FROM orders WHERE customer_id LIKE 'C2%')""")
    classify_orders(con)
    together = splits(con, cutoffs, n)
    for cutoff, got, labelled in zip(cutoffs, together, (True, True, False), strict=True):
        assert got.y is not None if labelled else got.y is None
        y = got.y.tolist() if got.y is not None else [None] * len(got.ids)
        rows = list(zip(got.ids.tolist(), got.x[:, 1].tolist(), got.x[:, 2].tolist(), y,
                        strict=True))
        assert rows == _by_macros(con, cutoff, n if labelled else None)
        assert len(rows) > 100
        # rising ids: precision_top_decile breaks ties by position, meaning by id
        assert got.ids.tolist() == sorted(set(got.ids.tolist()))
    # Orders on and after as_of, and a credit note then reversing an earlier purchase.
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, amount, status)
        SELECT 'F' || customer_id, customer_id, DATE '2026-03-01', -10, 'completed'
        FROM (SELECT DISTINCT customer_id FROM orders)""")
    classify_orders(con)
    again = splits(con, cutoffs, n)
    for before, after in zip(together, again, strict=True):
        assert np.array_equal(before.ids, after.ids)
        assert np.array_equal(before.x, after.x, equal_nan=True)
        assert (before.y is None and after.y is None) or np.array_equal(before.y, after.y)


def test_fit_on_the_synthetic_shop_is_deterministic_and_ranks() -> None:
    runs = []
    for _ in range(2):
        con = _orders(_shop(2))
        model = fit_churn(con, AS_OF, 90)
        runs.append((model, con.execute(f"SELECT * FROM {CUSTOMER_CHURN}").fetchall()))
    assert runs[0] == runs[1]
    model = runs[0][0]
    assert model.available and model.auc is not None and model.auc > 0.6
    assert sum(b["customers"] for b in model.bands) == model.scored
    assert sum(b["customers"] for b in model.reliability) == model.check_customers


def test_short_history_leaves_churn_risk_null_with_a_reason() -> None:
    # No repeat buyer either: no typical gap, so days_overdue is unknown too.
    con = _orders([("A", "2026-01-01", "completed"), ("B", "2026-02-01", "completed")])
    model = fit_churn(con, AS_OF, 90)
    assert not model.available and model.reason is not None
    assert "too short" in model.reason and model.auc is None
    assert con.execute(f"SELECT customer_id, churn_risk, days_overdue FROM {CUSTOMER_CHURN} "
                       "ORDER BY 1").fetchall() == [("A", None, None), ("B", None, None)]


def test_one_class_missing_says_which() -> None:
    # 60 customers ordering every week for a year: nobody ever churns.
    rows = [(f"C{c}", (dt.date(2025, 3, 1) + dt.timedelta(days=d)).isoformat(), "completed")
            for c in range(60) for d in range(0, 365, 7)]
    model = fit_churn(_orders(rows), AS_OF, 90)
    assert model.reason is not None and "0 buyers without" in model.reason


def test_precision_top_decile_and_reliability_by_hand() -> None:
    p = np.array([0.9, 0.8, 0.8, 0.1, 0.3, 0.2, 0.5, 0.6, 0.05, 0.15,
                  0.7, 0.4, 0.35, 0.25, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95])
    y = np.array([1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1])
    # rows in customer id order, C00 to C19; top 2 of 20: 0.95 (C19, churned) and 0.9 (C00)
    assert precision_top_decile(y, p) == 1.0
    # ties at the cut go by id: of 0.8 (C01 stayed, C02 churned) only C01 makes a top 1
    assert precision_top_decile(np.array([0, 1]), np.array([0.8, 0.8])) == 0.0
    assert precision_top_decile(np.array([1, 0]), np.array([0.8, 0.8])) == 1.0
    table = reliability(y, p)
    # [0, .2): .1 .05 .15; [.2, .4): .3 .2 .35 .25; [.4, .6): .5 .4 .45 .55;
    # [.6, .8): .6 .7 .65 .75; [.8, 1]: .9 .8 .8 .85 .95 (C00 C01 C02 C18 C19: 1 0 1 1 1)
    assert [b["customers"] for b in table] == [3, 4, 4, 4, 5]
    assert table[-1]["mean_predicted"] == pytest.approx(0.86)
    assert table[-1]["observed"] == pytest.approx(0.8)
    assert table[0]["observed"] == 0.0 and table[2]["observed"] == 0.75


def test_monetary_is_net_revenue_never_below_zero() -> None:
    con = connect()
    con.execute(ORDERS.create())
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?::DATE, ?, ?)", [
                        ("A1", "A", "2026-01-05", 100, "completed"),
                        ("A1C", "A", "2026-01-20", -30, "refunded"),  # partial: 100 - 30
                        ("B1", "B", "2026-01-05", 40, "completed"),
                        ("B2", "B", "2026-01-06", 25, "completed"),
                        ("B2C", "B", "2026-01-10", -25, "refunded"),  # reverses B2 in full
                        ("C1", "C", "2026-01-05", 10, "completed"),
                        ("C1C", "C", "2026-01-07", -50, "refunded"),  # more than spent: 0
                        ("A2C", "A", "2026-03-01", -70, "refunded"),  # on as_of: not yet
                    ])
    classify_orders(con)
    s = split(con, AS_OF, None)
    column = MODEL_FEATURES.index("monetary")
    monetary = dict(zip(s.ids.tolist(), s.x[:, column].tolist(), strict=True))
    assert monetary == {"A": 70.0, "B": 40.0, "C": 0.0}


def test_skipping_the_model_keeps_days_overdue_and_leaves_risk_null() -> None:
    fitted, skipped = _orders(_shop(2)), _orders(_shop(2))
    assert fit_churn(fitted, AS_OF, 90).available
    assert not skip_churn(skipped, AS_OF).available
    query = f"SELECT customer_id, days_overdue, churn_risk FROM {CUSTOMER_CHURN} ORDER BY 1"
    with_model, without = fitted.execute(query).fetchall(), skipped.execute(query).fetchall()
    assert [r[:2] for r in without] == [r[:2] for r in with_model]
    assert {r[2] for r in without} == {None} and any(r[2] is not None for r in with_model)


def test_credit_note_days_are_no_order_days_and_a_credit_only_customer_no_buyer() -> None:
    con = connect()
    con.execute(ORDERS.create())
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?::DATE, ?, 'completed')", [
                        ("P0", "P", "2025-12-20", -4),  # a credit note before any purchase
                        ("P1", "P", "2026-01-01", 10),
                        ("P2", "P", "2026-01-05", -3),  # a credit-note-only day between
                        ("P3", "P", "2026-01-21", 10),
                        ("Q1", "Q", "2026-02-01", -5),  # credit notes only: no buyer
                        ("S1", "S", "2026-02-10", 10), ("S2", "S", "2026-02-10", 20),
                    ])
    classify_orders(con)
    rows = con.execute(features_sql(AS_OF)).df().set_index("customer_id")
    assert rows.index.tolist() == ["P", "S"]
    # by hand, as of 1 March: P bought on 2 days, 20 days apart (the credit-note days are
    # none of them), last 39 days ago, first 59 days ago, net 10 - 4 - 3 + 10 = 13
    assert rows.loc["P", ["orders", "recency_days", "tenure_days", "mean_gap_days",
                          "days_overdue", "monetary", "one_time"]].tolist() == [
        2.0, 39.0, 59.0, 20.0, 19.0, 13.0, 0.0]
    # S: two orders on one day, a one-time buyer with the repeat buyers' median gap (P's 20)
    assert rows.loc["S", ["orders", "recency_days", "mean_gap_days", "days_overdue",
                          "monetary", "one_time"]].tolist() == [2.0, 19.0, 20.0, 0.0, 30.0, 1.0]
