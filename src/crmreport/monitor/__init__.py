"""Monitor: did it work? Response and uplift, retention, segments, data quality.

Pure analytics over the run's DuckDB tables (contacts, orders, assignments); the frames it
returns are small aggregates. Suppressing small cells is the report's job, done once there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from crmreport.ingest.account import Account
from crmreport.monitor.response import Uplift, response_table, uplift
from crmreport.monitor.retention import cohort_matrix, retention_curve
from crmreport.monitor.segments import segment_overview

__all__ = [
    "Monitoring", "Uplift", "cohort_matrix", "collect", "response_table", "retention_curve",
    "segment_overview", "uplift",
]


@dataclass(frozen=True)
class Monitoring:
    as_of: dt.date
    window_days: int
    response: pd.DataFrame
    cohorts: pd.DataFrame
    retention: pd.DataFrame
    segments: pd.DataFrame
    account: Account


def collect(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    window_days: int,
    costs: dict[str, float],
    account: Account,
    months: int,
) -> Monitoring:
    cohorts = cohort_matrix(con, as_of, months)
    return Monitoring(
        as_of=as_of,
        window_days=window_days,
        response=response_table(con, window_days, costs, as_of),
        cohorts=cohorts,
        retention=retention_curve(cohorts),
        segments=segment_overview(con),
        account=account,
    )
