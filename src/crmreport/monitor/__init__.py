"""Monitor: did it work? Response and uplift, retention, segments, data quality.

Pure analytics over the run's DuckDB tables (contacts, orders, assignments); the frames it
returns are small aggregates. Suppressing small cells is the report's job, done once there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from crmreport.account import Account
from crmreport.engine import Connection
from crmreport.features import ChurnModel, ValueModel
from crmreport.monitor.response import Uplift, response_table, uplift
from crmreport.monitor.results import CampaignResults, campaign_results
from crmreport.monitor.retention import (
    Migration,
    Window,
    cohort_cells,
    cohort_matrix,
    cohort_window,
    retention_curve,
    segment_migration,
)
from crmreport.monitor.segments import segment_overview
from crmreport.monitor.value_summary import ValueSummary, value_summary

__all__ = [
    "CampaignResults",
    "Migration",
    "Monitoring",
    "Uplift",
    "ValueSummary",
    "Window",
    "campaign_results",
    "cohort_matrix",
    "cohort_window",
    "collect",
    "response_table",
    "retention_curve",
    "segment_migration",
    "segment_overview",
    "uplift",
    "value_summary",
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
    value: ValueSummary = field(default_factory=lambda: ValueSummary(reason="not computed"))
    window: Window | None = None  # the cohort months shown; None without orders
    churn: ChurnModel | None = None  # the features stage's churn model: aggregates only
    results: CampaignResults | None = None  # treated vs control per dimension, variants
    migration: Migration | None = None  # segments then and now (needs previous_segments)


def collect(
    con: Connection,
    as_of: dt.date,
    window_days: int,
    costs: dict[str, float],
    account: Account,
    months: int,
    value_model: ValueModel | None = None,
    churn: ChurnModel | None = None,
    margin: float | None = None,
    pre_days: int = 365,
    previous: dt.date | None = None,
) -> Monitoring:
    """``previous``: the date of the table ``previous_segments``, for the segment migration."""
    window = cohort_window(con, as_of, months)
    cohorts = cohort_cells(con, as_of, window)
    return Monitoring(
        as_of=as_of,
        window_days=window_days,
        response=response_table(con, window_days, costs, as_of),
        cohorts=cohorts,
        retention=retention_curve(cohorts),
        segments=segment_overview(con),
        account=account,
        value=value_summary(con, as_of, value_model) if value_model else
        ValueSummary(reason="not computed"),
        window=window,
        churn=churn,
        results=campaign_results(con, window_days, costs, as_of, margin, pre_days),
        migration=segment_migration(con, previous, as_of) if previous else None,
    )
