"""The executive summary for machines (``report --json``), its JSON Schema, and the
``fail_on`` checks of a report definition.

Figures are the report's, after small-cell suppression: a hidden figure is null with
``suppressed: true``, an undefined one null with ``suppressed: false``. Money is in
``currency``, rates are fractions, changes relative (retention: difference of rates).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from crmreport.account import Account
from crmreport.config.models import Report
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import Period, PeriodSummary
from crmreport.report.format import SUPPRESSED, as_float, suppress_small
from crmreport.report.results import campaign_totals
from crmreport.report.summary import figures

SCHEMA_VERSION = 1


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeriodOut(_Out):
    kind: Literal["week", "month", "quarter"]
    name: str  # 2026-W09, 2026-03, 2026-Q1
    start: dt.date
    end: dt.date


class FigureOut(_Out):
    value: float | None
    previous: float | None
    change: float | None
    suppressed: bool
    trend: list[float | None]  # the last periods, oldest first, the reported one last


class CampaignOut(_Out):
    campaign: str
    contacted: int | None
    control: int | None
    responders_treatment: int | None
    responders_control: int | None
    rate_treatment: float | None
    rate_control: float | None
    uplift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    significant: bool | None  # the 95% interval excludes zero
    incremental_revenue: float | None
    cost: float | None
    roi: float | None


class CheckOut(_Out):
    rule: str
    threshold: float | bool
    value: float | bool | None
    failed: bool
    reason: str | None


class SummaryOut(_Out):
    schema_version: Literal[1]
    report: str
    title: str
    as_of: dt.date
    currency: str
    period: PeriodOut
    previous_period: PeriodOut
    figures: dict[str, FigureOut]
    campaigns: list[CampaignOut]
    checks: list[CheckOut]
    failed: bool


def summary_schema() -> str:
    return json.dumps(SummaryOut.model_json_schema(), indent=2, sort_keys=True)


def _period(p: Period) -> PeriodOut:
    return PeriodOut(kind=p.kind, name=p.slug, start=p.start, end=p.end)


def _number(value: Any) -> float | None:
    number = as_float(value)
    return None if number is None else round(number, 6)


def _count(value: Any) -> int | None:
    number = as_float(value)
    return None if number is None else int(number)


def _campaign(r: Mapping[Any, Any]) -> CampaignOut:
    low, high = as_float(r["ci_low"]), as_float(r["ci_high"])
    return CampaignOut(
        campaign=str(r["campaign"]), contacted=_count(r["contacted"]),
        control=_count(r["control"]), responders_treatment=_count(r["responders_t"]),
        responders_control=_count(r["responders_c"]), rate_treatment=_number(r["rate_t"]),
        rate_control=_number(r["rate_c"]), uplift=_number(r["uplift_abs"]),
        ci_low=_number(low), ci_high=_number(high), p_value=_number(r["p_value"]),
        significant=None if low is None or high is None else bool(low > 0 or high < 0),
        incremental_revenue=_number(r["incremental_revenue"]), cost=_number(r["cost"]),
        roi=_number(r["roi"]),
    )


def quarantined_share(account: Account) -> float | None:
    rows_in = sum(f.rows_in for f in account.files)
    return sum(f.quarantined for f in account.files) / rows_in if rows_in else None


def checks(summary: PeriodSummary, account: Account, definition: Report) -> list[CheckOut]:
    """The definition's ``fail_on`` rules, each with the value it saw and whether it failed."""
    rules = definition.fail_on
    out: list[CheckOut] = []
    if rules.quarantined_share is not None:
        share = quarantined_share(account)
        failed = share is not None and share > rules.quarantined_share
        out.append(CheckOut(
            rule="quarantined_share", threshold=rules.quarantined_share,
            value=None if share is None else round(share, 6), failed=failed,
            reason=f"{share:.2%} of the input rows were quarantined, more than the "
                   f"{rules.quarantined_share:.2%} fail_on allows" if failed else None))
    if rules.no_orders_in_period:
        current = summary.current
        failed = current.active == 0
        out.append(CheckOut(
            rule="no_orders_in_period", threshold=True, value=failed, failed=failed,
            reason=f"no customer bought in {current.period.slug} "
                   f"({current.period.start} to {current.period.end})" if failed else None))
    if rules.revenue_drop is not None and summary.previous is not None:
        now, before = summary.current.revenue, summary.previous.revenue
        drop = (before - now) / before if before > 0 else None
        failed = drop is not None and drop > rules.revenue_drop
        out.append(CheckOut(
            rule="revenue_drop", threshold=rules.revenue_drop,
            value=None if drop is None else round(drop, 6), failed=failed,
            reason=f"revenue in {summary.current.period.slug} fell by {drop:.1%} against "
                   f"the previous period, more than the {rules.revenue_drop:.1%} fail_on "
                   "allows" if failed and drop is not None else None))
    return out


def summary_json(monitoring: Monitoring, summary: PeriodSummary, definition: Report) -> str:
    """The summary as JSON text (keys sorted, two-space indent, a final newline)."""
    k = definition.min_cell_size
    safe = suppress_small(monitoring, k)
    figs = {}
    totals = campaign_totals(safe.results)  # as the campaign section shows them
    for f in figures(summary, k, totals):
        change = f.change
        figs[f.key] = FigureOut(
            value=_number(f.value), previous=_number(f.previous),
            change=None if change is None else round(change, 6),
            suppressed=f.value is SUPPRESSED, trend=[_number(v) for v in f.values])
    found = checks(summary, monitoring.account, definition)
    out = SummaryOut(
        schema_version=SCHEMA_VERSION, report=definition.report, title=definition.title,
        as_of=summary.as_of, currency=definition.currency,
        period=_period(summary.current.period),
        previous_period=_period(summary.current.period.previous()),
        figures=figs, campaigns=[_campaign(r) for r in totals], checks=found,
        failed=any(c.failed for c in found))
    return json.dumps(out.model_dump(mode="json"), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"
