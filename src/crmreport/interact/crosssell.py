"""Cross-sell: per customer with an offer, the suggestion the features stage made.

The suggestion is the feature ``next_category`` (features/affinity.py: the best co-purchased
category the customer has not bought yet), so rules can test it too. Here it becomes the
merge field ``suggested_category`` (absent when there is none, so templates write
``{% if suggested_category is defined %}``).
"""

from __future__ import annotations

from crmreport.engine import Connection
from crmreport.tables import ASSIGNMENTS, SUGGESTIONS


def suggest(con: Connection) -> None:
    """Create ``suggestions(customer_id, suggested_category)`` for customers with an offer
    and a suggestion."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {SUGGESTIONS} AS
    SELECT customer_id, next_category AS suggested_category FROM {ASSIGNMENTS}
    WHERE offer IS NOT NULL AND next_category IS NOT NULL ORDER BY customer_id""")
