"""Net revenue, stated once: which orders are purchases and what counts as revenue.

The rule (README, "Customer value"):
- a credit note is an order row with a negative amount (whatever its status): it subtracts
  from the customer's spend on its own date;
- a credit note that exactly reverses an earlier order of the same customer (amount = minus
  that order's amount, dated on or after it) cancels the latest such order not already
  reversed: that order is no purchase, and neither row is revenue;
- an order with status cancelled or refunded and a non-negative amount is cancelled in full;
- everything counts only before the as-of day: a cancellation dated on or after it is not
  known yet.

``net_orders`` classifies every order of a known customer once; the table macros
``purchases(day)`` and ``net_revenue(day)`` (``net_revenue_spans`` for several days in one
scan) apply the as-of day, so every stage counts purchases and revenue the same way.
"""

from __future__ import annotations

from crmreport.engine import Connection
from crmreport.tables import NET_ORDERS, ORDERS
from crmreport.vocabulary import COMPLETED

# Per customer and absolute amount, orders (+1) and credit notes (-1) in time order, orders
# first on a day: each credit note reverses the most recent unreversed order, a stack. The
# stack depth is the running sum clamped at 0 (a credit note with nothing to reverse leaves
# it at 0): depth = sum - least(0, running minimum of sum). The order a credit note pops is
# the latest earlier order pushed to the depth the credit note found.
# The table is not sorted: every reader aggregates it, and sorting every order took three
# quarters of this statement (bench/README.md, "net orders unsorted", 2 December).
_CLASSIFY = f"""
CREATE OR REPLACE TABLE {NET_ORDERS} AS
WITH o AS (
    SELECT order_id, customer_id, order_date, ordered_at, amount, status,
           amount < 0 AS credit, abs(amount) AS size
    FROM {ORDERS} WHERE customer_id IS NOT NULL
), walk AS (  -- only where a credit note could reverse something: most shops have few
    SELECT *, row_number() OVER w AS pos, sum(CASE WHEN credit THEN -1 ELSE 1 END) OVER w AS s
    FROM o SEMI JOIN (SELECT DISTINCT customer_id, size FROM o WHERE credit)
        USING (customer_id, size)
    WHERE amount <> 0
    WINDOW w AS (PARTITION BY customer_id, size
                 ORDER BY order_date, credit, ordered_at, order_id)
), depth AS (
    SELECT *, s - least(0, min(s) OVER w) AS depth
    FROM walk WINDOW w AS (PARTITION BY customer_id, size ORDER BY pos)
), found AS (
    SELECT *, coalesce(lag(depth) OVER (PARTITION BY customer_id, size ORDER BY pos), 0)
               AS found
    FROM depth
), reversal AS (  -- the latest such order before the credit note (an as-of join, portably)
    SELECT credit_id, credit_date, reversed_id FROM (
        SELECT c.order_id AS credit_id, c.order_date AS credit_date, r.order_id AS reversed_id,
               row_number() OVER (PARTITION BY c.customer_id, c.size, c.pos
                                  ORDER BY r.pos DESC) AS latest
        FROM (SELECT * FROM found WHERE credit AND found > 0) c
        JOIN (SELECT * FROM found WHERE NOT credit) r
          ON c.customer_id = r.customer_id AND c.size = r.size AND c.found = r.depth
         AND c.pos > r.pos)
    WHERE latest = 1
)
SELECT o.order_id, o.customer_id, o.order_date, o.amount,
       CASE WHEN o.credit THEN 'credit' WHEN o.status = '{COMPLETED}' THEN 'purchase'
            ELSE 'cancelled' END AS kind,
       cancel.credit_date AS cancelled_on,
       rev.reversed_id AS reverses
FROM o
LEFT JOIN reversal cancel ON cancel.reversed_id = o.order_id
LEFT JOIN reversal rev ON rev.credit_id = o.order_id
"""

# Purchases known before ``day``: completed, not reversed by a credit note dated before it.
_PURCHASES = f"""
CREATE OR REPLACE TEMP MACRO purchases(day) AS TABLE
SELECT order_id, customer_id, order_date, amount, kind FROM {NET_ORDERS}
WHERE kind = 'purchase' AND order_date < day AND coalesce(cancelled_on >= day, true)
"""

# The rows whose sum is net revenue before ``day``: those purchases and the credit notes
# that reverse nothing (partial refunds). A reversing credit note and its order are left out
# together, which nets to the same sum and keeps the order out of every count.
# ``net_revenue_spans(day)`` holds them for every as-of day up to ``day`` at once: each with
# the day it stops counting (``ends``, a purchase's cancellation; NULL: never). As of a day
# d, a row counts when order_date < d AND coalesce(ends >= d, true): one scan serves several
# as-of days (the churn model's splits, the value models' summary and calibration).
_NET_REVENUE_SPANS = f"""
CREATE OR REPLACE TEMP MACRO net_revenue_spans(day) AS TABLE
SELECT order_id, customer_id, order_date, amount, kind, cancelled_on AS ends FROM {NET_ORDERS}
WHERE order_date < day AND (kind = 'purchase' OR (kind = 'credit' AND reverses IS NULL))
"""
_NET_REVENUE = """
CREATE OR REPLACE TEMP MACRO net_revenue(day) AS TABLE
SELECT order_id, customer_id, order_date, amount, kind FROM net_revenue_spans(day)
WHERE coalesce(ends >= day, true)
"""

# Orders cancelled in full before ``day``: by status, or reversed by a credit note.
_CANCELLED = f"""
CREATE OR REPLACE TEMP MACRO cancelled_orders(day) AS TABLE
SELECT order_id, customer_id, order_date, amount FROM {NET_ORDERS}
WHERE order_date < day AND (kind = 'cancelled' OR (kind = 'purchase' AND cancelled_on < day))
"""


# The value models' purchase days before ``day``: (customer_id, order_date, net amount) of the
# days with a purchase and a net amount not below 0. A day of credit notes only is no
# purchase; a free purchase (0.00, as CDNOW has) is one, as the published fits count it.
_PURCHASE_DAYS = """
CREATE OR REPLACE TEMP MACRO purchase_days(day) AS TABLE
SELECT customer_id, order_date, sum(amount) AS amount FROM net_revenue(day)
GROUP BY customer_id, order_date
HAVING bool_or(kind = 'purchase') AND sum(amount) >= 0
"""


def classify_orders(con: Connection) -> None:
    """Create ``net_orders`` and the macros ``purchases``, ``net_revenue`` (and
    ``net_revenue_spans``), ``cancelled_orders`` and ``purchase_days`` (each takes the as-of
    day; rows dated before it)."""
    con.execute(_CLASSIFY)
    define_macros(con)


def define_macros(con: Connection) -> None:
    """The macros over an existing ``net_orders``, on ``con`` (macros are a connection's own)."""
    for sql in (_PURCHASES, _NET_REVENUE_SPANS, _NET_REVENUE, _CANCELLED, _PURCHASE_DAYS):
        con.execute(sql)
