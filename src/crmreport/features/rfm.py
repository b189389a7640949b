"""RFM features, scores and named segments in SQL over the canonical tables.

Purchases and net revenue are those of ``net_orders`` (see net_orders.py) dated before
``as_of``: an order on the as-of day is not counted yet. Scores are tie-aware quintiles: customers
with equal values always get the same score (rank-based, so the result does not depend on row
order), 5 is best. Customers without orders have NULL scores: a rule such as
``r_score >= 4`` is then false for them, as SQL's three-valued logic says.
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection
from crmreport.tables import CONTACTS, CUSTOMERS, ORDER_LINES

RFM = "rfm"  # a working table of this stage: features joins it with the value columns
# A working table: each customer's spend per category over purchases before as_of, joined
# once for the top category and the co-purchases (the join of order lines is the costly part).
CATEGORY_SPEND = "category_spend"

# Column -> what it means; shown by `crmreport check` and used to suggest names in rule errors.
FEATURE_DOCS: dict[str, str] = {
    "customer_id": "the customer's id",
    "country": "ISO 3166 alpha-2 country",
    "locale": "language and region, e.g. de_DE",
    "email_consent": "'yes', 'no' or 'unknown'",
    "mail_objection": "true if the customer objected to postal mail",
    "has_email": "true if a valid email address is known",
    "has_address": "true if street, postal code and city are known",
    "signup_days": "days since sign-up",
    "orders": "purchases before as_of (completed orders no credit note reversed)",
    "repeat_orders": "purchases after the first one (orders minus one)",
    "monetary": "net revenue before as_of: purchases minus partial credit notes",
    "avg_order_value": "monetary / orders",
    "cancelled_orders": "orders cancelled in full: by status, or reversed by a credit note",
    "first_order_date": "date of the first purchase",
    "last_order_date": "date of the last purchase",
    "recency_days": "days since the last purchase",
    "tenure_days": "days since the first purchase",
    "r_score": "recency quintile, 5 = most recent",
    "f_score": "quintile of orders, 5 = most orders",
    "m_score": "monetary quintile, 5 = highest net revenue",
    "rfm_segment": "named RFM segment (champions, loyal, new, promising, needs_attention, "
                   "at_risk, cant_lose, hibernating, lost, prospect)",
    "top_category": "category with the highest spend",
    "days_since_contact": "days since the last campaign contact (NULL if never)",
    "contacts_365d": "campaign contacts in the last 365 days",
}

# Old name -> new one, so that a rule written with the old name is told what to write.
RENAMED: dict[str, str] = {
    # meant repeat orders, while the value models' frequency is repeat purchase days
    "frequency": "repeat_orders",
}

# (name, condition on r and f scores); first match wins.
RFM_SEGMENTS: list[tuple[str, str]] = [
    ("prospect", "r_score IS NULL"),
    ("champions", "r_score >= 4 AND f_score >= 4"),
    ("loyal", "r_score >= 3 AND f_score >= 3"),
    ("new", "r_score >= 4 AND tenure_days <= 90"),
    ("promising", "r_score >= 4"),
    ("needs_attention", "r_score = 3"),
    ("cant_lose", "r_score = 1 AND f_score >= 4"),
    ("at_risk", "f_score >= 3"),
    ("hibernating", "r_score = 2"),
    ("lost", "TRUE"),
]


def compute_rfm(con: Connection, as_of: dt.date) -> None:
    """Create the temporary ``rfm`` table: one row per customer, columns as in FEATURE_DOCS;
    and ``category_spend`` (see ``compute_category_spend``), which co-purchases read too."""
    day = f"DATE '{as_of.isoformat()}'"
    compute_category_spend(con, as_of)
    con.execute(_base_sql(day))
    con.execute(_scores_sql())
    con.execute("DROP TABLE base_features")


def compute_category_spend(con: Connection, as_of: dt.date) -> None:
    """Create the temporary ``category_spend(customer_id, category, spend)``: one row per
    customer and category they bought before ``as_of`` (purchases, net_orders.py)."""
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE {CATEGORY_SPEND} AS
    SELECT p.customer_id, l.category, sum(l.quantity * coalesce(l.unit_price, 0)) AS spend
    FROM {ORDER_LINES} l JOIN purchases(DATE '{as_of.isoformat()}') p USING (order_id)
    WHERE l.category IS NOT NULL
    GROUP BY ALL""")


def _quintile(column: str, order: str) -> str:
    # rank() gives ties the same rank, so equal values never straddle a score boundary.
    return (f"CASE WHEN {column} IS NOT NULL THEN least(5, 1 + floor(5 * (rank() OVER "
            f"(PARTITION BY {column} IS NULL ORDER BY {column} {order}) - 1) / "
            f"count(*) OVER (PARTITION BY {column} IS NULL)))::INTEGER END")


def _base_sql(day: str) -> str:
    return f"""
    CREATE OR REPLACE TEMP TABLE base_features AS
    WITH o AS (  -- net revenue's rows hold the purchases (kind 'purchase'): one scan for both
        SELECT customer_id, count(*) FILTER (WHERE kind = 'purchase') AS orders,
               min(order_date) FILTER (WHERE kind = 'purchase') AS first_order_date,
               max(order_date) FILTER (WHERE kind = 'purchase') AS last_order_date,
               sum(amount) AS monetary
        FROM net_revenue({day}) GROUP BY customer_id
    ), x AS (
        SELECT customer_id, count(*) AS cancelled_orders FROM cancelled_orders({day})
        GROUP BY customer_id
    ), cat AS (
        SELECT customer_id, arg_max(category, (spend, category)) AS top_category
        FROM {CATEGORY_SPEND} GROUP BY customer_id
    ), k AS (
        SELECT customer_id, max(contacted_at) AS last_contact,
               count(*) FILTER (WHERE contacted_at > {day} - 365) AS contacts_365d
        FROM {CONTACTS} WHERE test_group = 'treatment' AND contacted_at <= {day}
        GROUP BY customer_id
    )
    SELECT c.customer_id, c.country, c.locale, c.email_consent, c.mail_objection,
           c.email IS NOT NULL AS has_email,
           (c.street IS NOT NULL AND c.postal_code IS NOT NULL AND c.city IS NOT NULL)
               AS has_address,
           date_diff('day', c.signup_date, {day}) AS signup_days,
           coalesce(o.orders, 0)::INTEGER AS orders,
           greatest(coalesce(o.orders, 0) - 1, 0)::INTEGER AS repeat_orders,
           coalesce(o.monetary, 0)::DECIMAL(18,2) AS monetary,
           CASE WHEN o.orders > 0 THEN round(coalesce(o.monetary, 0) / o.orders, 2)
               END::DECIMAL(18,2) AS avg_order_value,
           coalesce(x.cancelled_orders, 0)::INTEGER AS cancelled_orders,
           o.first_order_date, o.last_order_date,
           date_diff('day', o.last_order_date, {day})::INTEGER AS recency_days,
           date_diff('day', o.first_order_date, {day})::INTEGER AS tenure_days,
           cat.top_category,
           date_diff('day', k.last_contact, {day})::INTEGER AS days_since_contact,
           coalesce(k.contacts_365d, 0)::INTEGER AS contacts_365d
    FROM {CUSTOMERS} c
    LEFT JOIN o USING (customer_id)
    LEFT JOIN x USING (customer_id)
    LEFT JOIN cat USING (customer_id)
    LEFT JOIN k USING (customer_id)
    """


def _scores_sql() -> str:
    named = " ".join(f"WHEN {cond} THEN '{name}'" for name, cond in RFM_SEGMENTS)
    return f"""
    CREATE OR REPLACE TEMP TABLE {RFM} AS
    WITH s AS (
        SELECT *,
               {_quintile('recency_days', 'DESC')} AS r_score,
               {_quintile('CASE WHEN orders > 0 THEN orders END', 'ASC')} AS f_score,
               {_quintile('CASE WHEN orders > 0 THEN monetary END', 'ASC')} AS m_score
        FROM base_features
    )
    SELECT *, CASE {named} END AS rfm_segment FROM s ORDER BY customer_id
    """
