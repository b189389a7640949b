import datetime as dt

import duckdb
import pytest

from crmreport.features.affinity import compute_co_purchase, compute_next_category
from crmreport.features.net_orders import classify_orders
from crmreport.features.rfm import compute_category_spend
from crmreport.tables import ORDER_LINES, ORDERS


def test_lift_by_hand() -> None:
    con = duckdb.connect()
    con.execute(ORDERS.create())
    con.execute(ORDER_LINES.create())
    baskets = {"A": ["tent", "boots"], "B": ["tent", "boots"], "C": ["tent"], "D": ["books"]}
    for cid, cats in baskets.items():
        for i, cat in enumerate(cats):
            con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                        "VALUES (?, ?, DATE '2026-01-01', 1, 'completed')",
                        [f"{cid}{i}", cid])
            con.execute("INSERT INTO order_lines (order_id, category) VALUES (?, ?)",
                        [f"{cid}{i}", cat])
    con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                "VALUES ('X', NULL, DATE '2026-01-01', 1, 'completed')")
    # a guest counts for no one
    con.execute("INSERT INTO order_lines (order_id, category) VALUES ('X', 'books')")
    classify_orders(con)
    compute_category_spend(con, dt.date(2026, 3, 1))
    compute_co_purchase(con)
    rows = {(a, b): (n, s, c, lift) for a, b, n, s, c, lift in
            con.execute("SELECT * FROM co_purchase").fetchall()}
    # 4 buyers; tent 3, boots 2; both 2 -> support 0.5, P(boots|tent) 2/3, lift (2/3)/(2/4)
    assert rows[("tent", "boots")] == (2, 0.5, pytest.approx(0.666667), pytest.approx(1.333333))
    assert rows[("boots", "tent")] == (2, 0.5, 1.0, pytest.approx(1.333333))
    assert set(rows) == {("tent", "boots"), ("boots", "tent")}


def test_next_category_by_hand() -> None:
    con = duckdb.connect()
    con.execute(ORDERS.create())
    con.execute(ORDER_LINES.create())
    baskets = {"A": ["tent", "boots"], "B": ["tent", "boots"], "C": ["tent"],
               "D": ["books", "tent"], "E": ["books"], "F": []}
    for cid, cats in baskets.items():
        for i, cat in enumerate(cats):
            con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                        "VALUES (?, ?, DATE '2026-01-01', 1, 'completed')",
                        [f"{cid}{i}", cid])
            con.execute("INSERT INTO order_lines (order_id, category) VALUES (?, ?)",
                        [f"{cid}{i}", cat])
    classify_orders(con)
    compute_category_spend(con, dt.date(2026, 3, 1))
    compute_co_purchase(con)
    compute_next_category(con)
    got = dict(con.execute("SELECT * FROM customer_next_category").fetchall())
    # 5 buyers; tent 4, boots 2, books 2; tent&boots 2, tent&books 1 (D).
    # lift tent->boots = (2/4)/(2/5) = 1.25, tent->books = (1/4)/(2/5) = 0.625,
    # books->tent = (1/2)/(4/5) = 0.625; boots->tent = 1.25 (never new to a boots buyer here)
    assert got == {"A": "books", "B": "books",  # bought tent and boots: books via tent
                   "C": "boots",  # tent: boots (1.25) beats books (0.625)
                   "D": "boots",  # books and tent: boots via tent
                   "E": "tent"}  # books: tent; F bought nothing, so no suggestion
