"""Acquisition cohorts and retention.

Definition (printed in the report): a customer's cohort is the calendar month of their first
completed order. Cell (cohort, k) is the share of the cohort with at least one completed
order in calendar month cohort + k. Only orders before ``as_of`` count; a cell whose month
does not end before ``as_of`` is incomplete (``complete`` is False) and will still grow.
Guest orders (no customer_id) belong to no cohort.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

DEFINITION = (
    "Cohort = calendar month of a customer's first completed order. Cell (cohort, month k) = "
    "share of the cohort with at least one completed order in calendar month cohort + k. "
    "Orders before the as-of date only; incomplete months are marked."
)

_SQL = """
WITH done AS (
    SELECT DISTINCT customer_id, CAST(date_trunc('month', order_date) AS DATE) AS month
    FROM purchases(?)
),
firsts AS (SELECT customer_id, min(month) AS cohort FROM done GROUP BY customer_id),
sizes AS (
    SELECT cohort, count(*) AS cohort_size FROM firsts
    WHERE cohort >= ? GROUP BY cohort
),
grid AS (
    SELECT s.cohort, s.cohort_size, CAST(g.month AS DATE) AS month
    FROM sizes s, generate_series(s.cohort, CAST(? AS DATE), INTERVAL 1 MONTH) AS g(month)
),
active AS (
    SELECT f.cohort, d.month, count(*) AS active
    FROM firsts f JOIN done d USING (customer_id)
    WHERE f.cohort >= ?
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


def cohort_matrix(con: duckdb.DuckDBPyConnection, as_of: dt.date, months: int) -> pd.DataFrame:
    """Long form: cohort, cohort_size, k, month, active, share, complete.

    The last ``months`` cohorts end with the month of the last observed day (as_of - 1).
    """
    last_day = as_of - dt.timedelta(days=1)
    last_month = _month_start(last_day)
    first_cohort = _month_start(last_day, back=months - 1)
    frame = con.execute(_SQL, [as_of, first_cohort, last_month, first_cohort]).df()
    for col in ("cohort", "month"):
        frame[col] = [pd.Timestamp(v).date() for v in frame[col]]
    frame["k"] = frame["k"].astype(int)
    frame["cohort_size"] = frame["cohort_size"].astype(int)
    frame["active"] = frame["active"].astype(int)
    frame["share"] = frame["active"] / frame["cohort_size"]
    # A month is complete once its last day is before as_of (its successor starts by as_of).
    frame["complete"] = [_month_start(m, back=-1) <= as_of for m in frame["month"]]
    return frame.reset_index(drop=True)


def retention_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Retention and churn by months since acquisition, pooled over complete cells only.

    retention_k = customers active in month k / size of the cohorts that have seen month k;
    churn_k = 1 - retention_k (share of those cohorts not buying in month k).
    """
    done = matrix[matrix["complete"].astype(bool)]
    curve = done.groupby("k", sort=True).agg(
        cohorts=("cohort", "count"), customers=("cohort_size", "sum"), active=("active", "sum")
    ).reset_index()
    curve["retention"] = curve["active"] / curve["customers"]
    curve["churn"] = 1 - curve["retention"]
    return curve
