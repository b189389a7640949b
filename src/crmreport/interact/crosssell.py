"""Cross-sell: per customer, the best co-purchased category they have not bought yet.

Co-purchase comes from the features stage's
``co_purchase(category_a, category_b, lift, support)`` table when it exists; otherwise it is
computed here the same way: over the customers with a completed order dated before
``as_of``, support(a, b) is the share who bought both categories and lift is
support(a, b) / (support(a) * support(b)). A customer's suggestion is the
category_b with the highest lift (then support, then name) among pairs whose category_a they
bought and whose category_b they never bought. It is the merge field ``suggested_category``
(absent when there is none, so templates write ``{% if suggested_category is defined %}``).
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection

PAIR_COLUMNS = {"category_a", "category_b", "lift", "support"}


def _has_co_purchase(con: Connection) -> bool:
    found = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'co_purchase'").fetchall()}
    return found >= PAIR_COLUMNS


def _pairs_sql(day: str) -> str:
    return f"""
    WITH baskets AS (
        SELECT DISTINCT o.customer_id, l.category FROM order_lines l JOIN orders o
        USING (order_id) WHERE o.status = 'completed' AND o.order_date < {day}
          AND l.category IS NOT NULL AND o.customer_id IS NOT NULL
    ), n AS (SELECT count(DISTINCT customer_id)::DOUBLE AS n FROM baskets),
    single AS (SELECT category, count(*) / (SELECT n FROM n) AS s FROM baskets GROUP BY 1),
    pair AS (
        SELECT a.category AS category_a, b.category AS category_b,
               count(*) / (SELECT n FROM n) AS support
        FROM baskets a JOIN baskets b ON a.customer_id = b.customer_id
          AND a.category <> b.category
        GROUP BY ALL
    )
    SELECT p.category_a, p.category_b, p.support / (sa.s * sb.s) AS lift, p.support
    FROM pair p JOIN single sa ON sa.category = p.category_a
    JOIN single sb ON sb.category = p.category_b"""


def suggest(con: Connection, as_of: dt.date) -> None:
    """Create ``suggestions(customer_id, suggested_category)`` for customers with an offer."""
    day = f"DATE '{as_of.isoformat()}'"
    pairs = ("SELECT category_a, category_b, lift, support FROM co_purchase"
             if _has_co_purchase(con) else _pairs_sql(day))
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE suggestions AS
    WITH pairs AS ({pairs}),
    bought AS (
        SELECT DISTINCT o.customer_id, l.category
        FROM order_lines l JOIN orders o USING (order_id)
        WHERE o.status = 'completed' AND o.order_date < {day} AND o.customer_id IS NOT NULL
          AND l.category IS NOT NULL
          AND o.customer_id IN (SELECT customer_id FROM assignments WHERE offer IS NOT NULL)
    ), candidates AS (
        SELECT b.customer_id, p.category_b, p.lift, p.support
        FROM bought b JOIN pairs p ON p.category_a = b.category
        WHERE NOT EXISTS (SELECT 1 FROM bought x WHERE x.customer_id = b.customer_id
                          AND x.category = p.category_b)
    )
    SELECT customer_id, category_b AS suggested_category FROM candidates
    QUALIFY row_number() OVER (PARTITION BY customer_id
                               ORDER BY lift DESC, support DESC, category_b) = 1
    ORDER BY customer_id""")
