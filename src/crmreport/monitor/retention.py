"""Acquisition cohorts and retention.

Definition (printed in the report): a customer's cohort is the calendar month of their first
completed order. Cell (cohort, k) is the share of the cohort with at least one completed
order in calendar month cohort + k. Only orders before ``as_of`` count; a cell whose month
does not end before ``as_of`` is incomplete (``complete`` is False) and will still grow.
Guest orders (no customer_id) belong to no cohort.

The window fits the data: the cohorts shown end with the last month in which a customer made
a first completed order before ``as_of`` and start ``months - 1`` months earlier, but no
earlier than the month of the first order in the data (any order before ``as_of``); their
cells run to the last month holding any order before ``as_of`` (never later than as_of's own
month). So a file whose customers all arrived early (CDNOW: first purchases in 1997-Q1, orders
to 1998-06) still shows its cohorts, however late ``as_of`` is. The first month's cohort is
left-censored: customers who bought before the data began look new in it. It is marked
(``left_censored``) and left out of the pooled retention curve and so the headline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from crmreport.engine import Connection
from crmreport.tables import ORDERS

DEFINITION = (
    "Cohort = calendar month of a customer's first completed order. Cell (cohort, month k) = "
    "share of the cohort with at least one completed order in calendar month cohort + k. "
    "Orders before the as-of date only; incomplete months are marked. The first month of "
    "the data is left-censored and left out of the retention curve."
)

COLUMNS = ["cohort", "cohort_size", "k", "month", "active", "share", "complete",
           "left_censored"]

_SQL = """
WITH done AS (
    SELECT DISTINCT customer_id, CAST(date_trunc('month', order_date) AS DATE) AS month
    FROM purchases(?)
),
firsts AS (SELECT customer_id, min(month) AS cohort FROM done GROUP BY customer_id),
sizes AS (
    SELECT cohort, count(*) AS cohort_size FROM firsts
    WHERE cohort BETWEEN ? AND ? GROUP BY cohort
),
grid AS (
    SELECT s.cohort, s.cohort_size, CAST(g.month AS DATE) AS month
    FROM sizes s JOIN (SELECT unnest(?) AS month) g ON g.month >= s.cohort
),
active AS (
    SELECT f.cohort, d.month, count(*) AS active
    FROM firsts f JOIN done d USING (customer_id)
    WHERE f.cohort BETWEEN ? AND ?
    GROUP BY f.cohort, d.month
)
SELECT g.cohort, g.cohort_size, datediff('month', g.cohort, g.month) AS k, g.month,
       coalesce(a.active, 0) AS active
FROM grid g LEFT JOIN active a USING (cohort, month)
ORDER BY g.cohort, k
"""


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Window:
    """The cohorts shown: ``first`` .. ``last`` (month starts), their cells up to ``data_end``;
    ``data_start`` is the month of the first order in the data, whose cohort is left-censored.
    None when there are no orders."""

    first: dt.date
    last: dt.date
    data_start: dt.date
    data_end: dt.date


def cohort_window(con: Connection, as_of: dt.date, months: int) -> Window | None:
    """The last ``months`` months up to the last month with a new customer before ``as_of``,
    clipped to the data's first month."""
    low, high, newest = con.execute(f"""
        SELECT min(order_date), max(order_date), (
            SELECT max(first_day) FROM (
                SELECT min(order_date) AS first_day FROM purchases($1)
                WHERE customer_id IS NOT NULL GROUP BY customer_id))
        FROM {ORDERS} WHERE order_date < $1""", [as_of]).fetchall()[0]
    if low is None:
        return None
    data_end = min(_month_start(high), _month_start(as_of - dt.timedelta(days=1)))
    data_start = _month_start(low)
    last = _month_start(newest) if newest is not None else data_end
    return Window(max(_month_start(last, back=months - 1), data_start), last, data_start,
                  data_end)


def cohort_matrix(con: Connection, as_of: dt.date, months: int) -> pd.DataFrame:
    """Long form: cohort, cohort_size, k, month, active, share, complete, left_censored;
    the cohorts of :func:`cohort_window`."""
    return cohort_cells(con, as_of, cohort_window(con, as_of, months))


def cohort_cells(con: Connection, as_of: dt.date, window: Window | None) -> pd.DataFrame:
    """:func:`cohort_matrix` over its ``window``, found already."""
    if window is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    frame = con.execute(_SQL, [as_of, window.first, window.last, _months(window),
                              window.first, window.last]).df()
    for col in ("cohort", "month"):
        frame[col] = [pd.Timestamp(v).date() for v in frame[col]]
    frame["k"] = frame["k"].astype(int)
    frame["cohort_size"] = frame["cohort_size"].astype(int)
    frame["active"] = frame["active"].astype(int)
    frame["share"] = frame["active"] / frame["cohort_size"]
    # A month is complete once its last day is before as_of (its successor starts by as_of).
    frame["complete"] = [_month_start(m, back=-1) <= as_of for m in frame["month"]]
    frame["left_censored"] = [c == window.data_start for c in frame["cohort"]]
    return frame[COLUMNS].reset_index(drop=True)


def _months(window: Window) -> list[dt.date]:
    """The first days of the months from the window's first to the data's last (a list, not
    generate_series: Spark has no table of a series)."""
    months, month = [], window.first
    while month <= window.data_end:
        months.append(month)
        month = _month_start(month, back=-1)
    return months


def retention_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Retention and churn by months since acquisition, pooled over complete cells of cohorts
    that are not left-censored (their "new" customers include old ones).

    retention_k = customers active in month k / size of the cohorts that have seen month k;
    churn_k = 1 - retention_k (share of those cohorts not buying in month k).
    """
    done = matrix[matrix["complete"].astype(bool) & ~matrix["left_censored"].astype(bool)]
    curve = done.groupby("k", sort=True).agg(
        cohorts=("cohort", "count"), customers=("cohort_size", "sum"), active=("active", "sum")
    ).reset_index()
    curve["retention"] = curve["active"] / curve["customers"]
    curve["churn"] = 1 - curve["retention"]
    return curve


# --- segment migration -----------------------------------------------------------------

MIGRATION_DAYS = 91  # the previous period: a quarter before the as-of date
ACTIVE_DAYS = 365  # active on a day = a purchase in the 365 days before it
PREVIOUS_SEGMENTS = "previous_segments"  # (customer_id, segment) as of the previous date

MIGRATION_DEFINITION = (
    "From = the customer's segment as of the previous date, by the campaign's own segment "
    "rules over features computed as of that date (orders before it only); to = the segment "
    "as of the report date. Active = a purchase in the 365 days before the date. Churned: "
    "active at the previous date, not now. Reactivated: bought before, inactive at the "
    "previous date, active now. New: first purchase between the two dates."
)

_MIGRATION = f"""
SELECT coalesce(p.segment, '') AS from_segment, a.segment AS to_segment, count(*) AS customers
FROM assignments a LEFT JOIN {PREVIOUS_SEGMENTS} p USING (customer_id)
GROUP BY ALL ORDER BY ALL
"""

_FLOWS = """
WITH firsts AS (SELECT customer_id, min(order_date) AS first_day FROM purchases($now)
                GROUP BY customer_id),
active_then AS (SELECT DISTINCT customer_id FROM purchases($then)
                WHERE order_date >= $then - $active),
active_now AS (SELECT DISTINCT customer_id FROM purchases($now)
               WHERE order_date >= $now - $active)
SELECT
    count(*) FILTER (t.customer_id IS NOT NULL AND n.customer_id IS NULL) AS churned,
    count(*) FILTER (t.customer_id IS NULL AND n.customer_id IS NOT NULL
                     AND f.first_day < $then) AS reactivated,
    count(*) FILTER (f.first_day >= $then) AS new,
    count(*) FILTER (t.customer_id IS NOT NULL AND n.customer_id IS NOT NULL) AS retained
FROM firsts f
LEFT JOIN active_then t USING (customer_id)
LEFT JOIN active_now n USING (customer_id)
"""


@dataclass(frozen=True)
class Migration:
    """Customers per (from segment, to segment) and the flows between active and inactive.
    ``reason`` says why there is none (then the frames are empty)."""

    previous: dt.date | None
    as_of: dt.date | None
    matrix: pd.DataFrame  # from_segment, to_segment, customers
    flows: dict[str, int]
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        cells = [{"from": r["from_segment"], "to": r["to_segment"],
                  "customers": r["customers"] if isinstance(r["customers"], int) else None}
                 for r in self.matrix.to_dict("records")]
        return {"previous": self.previous.isoformat() if self.previous else None,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "cells": cells,
                "flows": {k: v if isinstance(v, int) else None for k, v in self.flows.items()},
                "reason": self.reason}


def segment_migration(con: Connection, previous: dt.date,
                      as_of: dt.date) -> Migration:
    """Needs ``assignments`` (now) and ``previous_segments`` (as of ``previous``)."""
    matrix = con.execute(_MIGRATION).df()
    matrix["customers"] = [int(v) for v in matrix["customers"]]
    row = con.execute(_FLOWS, {"then": previous, "now": as_of,
                               "active": ACTIVE_DAYS}).fetchall()[0]
    flows = dict(zip(("churned", "reactivated", "new", "retained"), (int(v) for v in row),
                     strict=True))
    return Migration(previous, as_of, matrix, flows)
