"""Customer value for the report: equity, CLV by segment and distribution, and the model's fit
against a holdout period (fit on all but the last 26 weeks, predict those weeks, compare)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmreport import model_worker
from crmreport.engine import Connection
from crmreport.features.model_reasons import ModelReason
from crmreport.features.value_models import HOLDOUT_WEEKS as HOLDOUT_WEEKS
from crmreport.features.value_models import (
    FrequencyFit,
    ValueModel,
    calibration_columns,
    holdout_by_frequency,
)
from crmreport.tables import ASSIGNMENTS

BINS = (0, 10, 25, 50, 100, 250, 500, 1000, 2500)  # CLV bands in the shop's currency


@dataclass(frozen=True)
class ValueSummary:
    """Aggregates only. ``reason`` says why there are no figures when the model is missing."""

    reason: str | None
    params: dict[str, float] = field(default_factory=dict)
    customers: int = 0
    equity: float | None = None
    by_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    distribution: pd.DataFrame = field(default_factory=pd.DataFrame)
    fit: pd.DataFrame = field(default_factory=pd.DataFrame)
    fit_reason: str | None = None
    # the value model's own check (features/value_models.py): fitted without the last weeks,
    # its predicted repeat purchases in them against the actual ones, in numbers
    holdout: dict[str, Any] | None = None
    holdout_reason: str | None = None
    # the reasons as codes (features/model_reasons.py), for the report's language
    reason_code: ModelReason | None = None
    fit_reason_code: ModelReason | None = None
    holdout_reason_code: ModelReason | None = None


def value_summary(con: Connection, as_of: dt.date, model: ValueModel) -> ValueSummary:
    if not model.available:
        return ValueSummary(reason=model.reason, reason_code=model.reason_code)
    by_segment = con.execute(f"""
        SELECT segment, count(*) AS customers, avg(p_alive) AS avg_p_alive,
               avg(clv_52w) AS avg_clv, sum(clv_52w) AS equity
        FROM {ASSIGNMENTS} WHERE clv_52w IS NOT NULL GROUP BY segment ORDER BY segment""").df()
    fit = _holdout_fit(con, as_of, model)
    return ValueSummary(
        reason=None,
        params={**model.bgnbd, **model.gammagamma},
        customers=int(by_segment["customers"].sum()),
        equity=float(by_segment["equity"].sum()),
        by_segment=by_segment,
        distribution=_distribution(con),
        fit=fit.table if fit.table is not None else pd.DataFrame(),
        fit_reason=fit.reason,
        fit_reason_code=fit.reason_code,
        holdout=_holdout(model),
        holdout_reason=model.verdict_reason,
        holdout_reason_code=model.verdict_reason_code,
    )


def _holdout(model: ValueModel) -> dict[str, Any] | None:
    v = model.verdict
    if v is None:
        return None
    return {"model": v.model, "customers": v.customers, "actual": v.actual,
            "predicted": v.predicted, "error_percent": v.error_percent, "warning": v.warning,
            "threshold_percent": v.threshold_percent}


def _distribution(con: Connection) -> pd.DataFrame:
    edges = list(BINS)
    cases = " ".join(f"WHEN clv_52w < {hi} THEN {lo}" for lo, hi in itertools.pairwise(edges))
    counts = dict(con.execute(f"""SELECT CASE {cases} ELSE {edges[-1]} END AS low, count(*)
        FROM {ASSIGNMENTS} WHERE clv_52w IS NOT NULL GROUP BY 1""").fetchall())
    highs: list[float | None] = [*edges[1:], None]
    return pd.DataFrame({"low": edges, "high": highs,
                         "customers": [counts.get(lo, 0) for lo in edges]})


def _holdout_fit(con: Connection, as_of: dt.date, model: ValueModel) -> FrequencyFit:
    """Mean actual vs predicted purchases in the holdout weeks, by calibration frequency:
    BG/NBD's, made with the value model's verdict when that was BG/NBD's, else fitted now."""
    made = model.by_frequency
    if made is not None and made.as_of == as_of:
        return made
    return model_worker.run(holdout_by_frequency, calibration_columns(con, as_of), as_of)
