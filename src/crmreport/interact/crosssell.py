"""Cross-sell: per customer, the best co-purchased category they have not bought yet.

Co-purchase comes from the features stage's ``co_purchase`` table (support, confidence and
lift over the customers with a purchase before ``as_of``). A customer's suggestion is the
category_b with the highest lift (then support, then name) among pairs whose category_a they
bought and whose category_b they never bought. It is the merge field ``suggested_category``
(absent when there is none, so templates write ``{% if suggested_category is defined %}``).
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection
from crmreport.tables import ASSIGNMENTS, CO_PURCHASE, SUGGESTIONS


def suggest(con: Connection, as_of: dt.date) -> None:
    """Create ``suggestions(customer_id, suggested_category)`` for customers with an offer."""
    day = f"DATE '{as_of.isoformat()}'"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {SUGGESTIONS} AS
    WITH pairs AS (SELECT category_a, category_b, lift, support FROM {CO_PURCHASE}),
    bought AS (
        SELECT DISTINCT o.customer_id, l.category
        FROM order_lines l JOIN purchases({day}) o USING (order_id)
        WHERE l.category IS NOT NULL
          AND o.customer_id IN (SELECT customer_id FROM {ASSIGNMENTS} WHERE offer IS NOT NULL)
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
