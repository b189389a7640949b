"""Category affinity between customers: which categories are bought by the same people.

For categories a and b over the customers with a purchase before ``as_of`` (net_orders.py):
support = share of customers who bought both, confidence = P(b | a), lift = confidence /
P(b). A lift above 1 means a buyer of a is more likely than others to buy b: the basis of
cross-selling suggestions.
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection
from crmreport.tables import CO_PURCHASE


def compute_co_purchase(con: Connection, as_of: dt.date) -> None:
    """Create ``co_purchase(category_a, category_b, customers, support, confidence, lift)``."""
    con.execute(f"""
    CREATE OR REPLACE TABLE {CO_PURCHASE} AS
    WITH bought AS (
        SELECT DISTINCT p.customer_id, l.category
        FROM purchases(DATE '{as_of.isoformat()}') p JOIN order_lines l USING (order_id)
        WHERE l.category IS NOT NULL
    ), buyers AS (SELECT count(DISTINCT customer_id) AS n FROM bought),
    single AS (SELECT category, count(*) AS n FROM bought GROUP BY category),
    pairs AS (
        SELECT a.category AS category_a, b.category AS category_b, count(*) AS customers
        FROM bought a JOIN bought b
          ON a.customer_id = b.customer_id AND a.category <> b.category
        GROUP BY ALL
    )
    SELECT category_a, category_b, customers,
           round(customers / buyers.n, 6) AS support,
           round(customers / sa.n, 6) AS confidence,
           round((customers / sa.n) / (sb.n / buyers.n), 6) AS lift
    FROM pairs, buyers
    JOIN single sa ON sa.category = category_a
    JOIN single sb ON sb.category = category_b
    ORDER BY category_a, lift DESC, category_b""")
