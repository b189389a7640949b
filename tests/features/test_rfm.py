import datetime as dt
from decimal import Decimal
from pathlib import Path

from crmreport.engine import connect
from crmreport.features import FEATURE_DOCS, compute_features
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources
from crmreport.tables import INPUTS


def _features(shop: Path) -> dict[str, dict]:
    con = connect()
    staged = load_sources(con, [SourceFile("customers", shop / "customers.csv"),
                                 SourceFile("orders", shop / "orders.csv"),
                                 SourceFile("order_lines", shop / "order_lines.csv")])
    identify_tables(con, staged, "EUR")
    compute_features(con, dt.date(2026, 3, 1))
    cursor = con.execute("SELECT * FROM features")
    names = [d[0] for d in cursor.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def test_rfm_matches_hand_computation(shop: Path) -> None:
    f = _features(shop)
    anna = f["C1"]  # orders 2025-12-01 (100.00 outdoor) and 2026-02-20 (50.00 books)
    assert anna["orders"] == 2 and anna["repeat_orders"] == 1
    assert anna["monetary"] == Decimal("150.00")
    assert anna["avg_order_value"] == Decimal("75.00")
    assert anna["recency_days"] == 9  # 2026-02-20 -> 2026-03-01
    assert anna["tenure_days"] == 90  # 2025-12-01 -> 2026-03-01
    assert anna["top_category"] == "outdoor"
    dora = f["C4"]  # only a cancelled order: a prospect, not a buyer
    assert dora["orders"] == 0 and dora["monetary"] == 0 and dora["cancelled_orders"] == 1
    assert dora["recency_days"] is None and dora["r_score"] is None
    assert dora["rfm_segment"] == "prospect"
    # score = 1 + floor(5 * (rank - 1) / n); recency ranks among the 4 buyers, oldest first:
    # C2 273 days (rank 1), C5 28 (2), C1 9 (3), C3 4 (4)
    assert [f[c]["r_score"] for c in ("C2", "C5", "C1", "C3")] == [1, 2, 3, 4]
    # frequency: C1 has 2 orders, the three others tie at 1 and share the lowest score
    assert [f[c]["f_score"] for c in ("C1", "C2", "C3", "C5")] == [4, 1, 1, 1]
    assert set(FEATURE_DOCS) <= set(anna)


def test_guest_orders_create_no_customer(shop: Path) -> None:
    assert set(_features(shop)) == {"C1", "C2", "C3", "C4", "C5"}


def test_credit_notes_alone_make_net_revenue_but_no_buyer() -> None:
    # the purchase counts and net revenue come from one scan of net revenue's rows: a
    # customer whose only row is a partial credit note has revenue there but no purchase
    con = connect()
    for table in INPUTS:
        con.execute(table.create())
    con.execute("INSERT INTO customers (customer_id) VALUES ('C1'), ('C2')")
    con.execute("""INSERT INTO orders (order_id, customer_id, order_date, ordered_at, amount,
                   status) VALUES
                   ('K1', 'C1', '2026-01-10', '2026-01-10', -30.00, 'refunded'),
                   ('K2', 'C2', '2026-01-12', '2026-01-12', 40.00, 'completed'),
                   ('K3', 'C2', '2026-02-12', '2026-02-12', -15.00, 'refunded')""")
    compute_features(con, dt.date(2026, 3, 1), fit_models=False)
    rows = con.execute("""SELECT customer_id, orders, repeat_orders, monetary, avg_order_value,
                          first_order_date, recency_days, rfm_segment
                          FROM features ORDER BY customer_id""").fetchall()
    assert rows == [
        ("C1", 0, 0, Decimal("-30.00"), None, None, None, "prospect"),
        ("C2", 1, 0, Decimal("25.00"), Decimal("25.00"), dt.date(2026, 1, 12), 48, "lost"),
    ]
