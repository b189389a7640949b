"""Category affinity between customers: which categories are bought by the same people.

For categories a and b over the customers with a purchase before ``as_of`` (net_orders.py):
support = share of customers who bought both, confidence = P(b | a), lift = confidence /
P(b). A lift above 1 means a buyer of a is more likely than others to buy b: the basis of
cross-selling suggestions.

``next_category`` is each customer's suggestion: the category_b with the highest lift (then
support, then name) among pairs whose category_a they bought and whose category_b they never
bought (NULL when there is none). It is a feature, so rules can test it, and the plan hands
it to templates as ``suggested_category`` (interact/crosssell.py).
"""

from __future__ import annotations

from crmreport.engine import Connection
from crmreport.features.rfm import CATEGORY_SPEND
from crmreport.tables import CO_PURCHASE

NEXT_CATEGORY = "customer_next_category"  # a working table: features joins it, then drops it


def compute_co_purchase(con: Connection) -> None:
    """Create ``co_purchase(category_a, category_b, customers, support, confidence, lift)``
    from ``category_spend`` (rfm.py: the categories each customer bought before as_of)."""
    con.execute(f"""
    CREATE OR REPLACE TABLE {CO_PURCHASE} AS
    WITH bought AS (SELECT customer_id, category FROM {CATEGORY_SPEND}),
    buyers AS (SELECT count(DISTINCT customer_id) AS n FROM bought),
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


def compute_next_category(con: Connection) -> None:
    """Create the temporary ``customer_next_category(customer_id, next_category)`` from
    ``co_purchase`` and ``category_spend``, for customers with a suggestion."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {NEXT_CATEGORY} AS
    WITH bought AS (SELECT customer_id, category FROM {CATEGORY_SPEND}), candidates AS (
        SELECT b.customer_id, c.category_b, c.lift, c.support
        FROM bought b JOIN {CO_PURCHASE} c ON c.category_a = b.category
        WHERE NOT EXISTS (SELECT 1 FROM bought x WHERE x.customer_id = b.customer_id
                          AND x.category = c.category_b)
    )
    SELECT customer_id, category_b AS next_category FROM candidates
    QUALIFY row_number() OVER (PARTITION BY customer_id
                               ORDER BY lift DESC, support DESC, category_b) = 1""")
