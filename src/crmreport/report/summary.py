"""The executive summary: the period's key figures with their change and trend, and a few
sentences generated from them, after small-cell suppression.

Suppression (as in format.py): a count of 1..min_cell_size-1 customers is hidden, and so is
the revenue of a period with that few buyers; retention needs min_cell_size customers in its
base and shows no count below it; the campaigns' incremental revenue is hidden when any
measured campaign's total is (the campaigns table beside it would give it away).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crmreport.monitor.periods import Period, PeriodFigures, PeriodSummary
from crmreport.report.format import SUPPRESSED, Formatter, as_float, suppress_response
from crmreport.report.labels import LABELS

# The key figures in the order shown; equity has no history (see monitor/periods.py).
KEYS = ("revenue", "active", "new", "retention", "incremental", "equity")
MONEY = {"revenue", "incremental", "equity"}


@dataclass(frozen=True)
class Figure:
    """One key figure: its value per period (oldest first; SUPPRESSED or None where hidden or
    undefined) and the change of the last against the one before."""

    key: str
    values: list[Any]

    @property
    def value(self) -> Any:
        return self.values[-1]

    @property
    def previous(self) -> Any:
        return self.values[-2] if len(self.values) > 1 else None

    @property
    def change(self) -> float | None:
        """Relative change; for retention the difference in rate (points as a fraction)."""
        now, before = as_float(self.value), as_float(self.previous)
        if now is None or before is None:
            return None
        if self.key == "retention":
            return now - before
        return (now - before) / abs(before) if before else None


def _few(count: int, k: int) -> bool:
    return 0 < count < k


def _incremental(response: Any, k: int) -> Any:
    """The measured campaigns' incremental revenue, summed after suppression."""
    safe = suppress_response(response, k)
    totals = safe[safe["is_total"].astype(bool)]["incremental_revenue"].tolist()
    if any(v is SUPPRESSED for v in totals):
        return SUPPRESSED
    shown = [v for v in map(as_float, totals) if v is not None]
    return round(sum(shown), 2) if shown else None


def _period_values(p: PeriodFigures, k: int) -> dict[str, Any]:
    hidden_buyers = _few(p.active, k)
    retention: Any = p.retention
    if p.base and (p.base < k or _few(p.retained, k)):
        retention = SUPPRESSED
    return {
        "revenue": SUPPRESSED if hidden_buyers else p.revenue,
        "active": SUPPRESSED if hidden_buyers else p.active,
        "new": SUPPRESSED if _few(p.new, k) else p.new,
        "retention": retention,
        "incremental": _incremental(p.response, k),
    }


def figures(summary: PeriodSummary, k: int,
            campaigns: Sequence[Mapping[Any, Any]] = ()) -> list[Figure]:
    """The key figures, suppressed; equity only for the reported period.

    ``campaigns``: the campaign totals the report shows (``results.campaign_totals``); the
    period's incremental revenue adds them up, so it is hidden when any of theirs is."""
    per_period = [_period_values(p, k) for p in summary.periods]
    if per_period and any(c["incremental_revenue"] is SUPPRESSED for c in campaigns):
        per_period[-1]["incremental"] = SUPPRESSED
    out = [Figure(key, [values[key] for values in per_period]) for key in KEYS[:-1]]
    return [*out, Figure("equity", [summary.equity])]


def period_label(period: Period, fmt: Formatter) -> str:
    """2026-W09 / KW 9/2026, Mar 2026 / März 2026, Q1 2026 / Q1/2026."""
    t = LABELS[fmt.language]
    if period.kind == "week":
        year, week, _ = period.start.isocalendar()
        return t["week_label"].format(year=year, week=week)
    if period.kind == "month":
        return fmt.month(period.start)
    return t["quarter_label"].format(year=period.start.year,
                                     quarter=(period.start.month - 1) // 3 + 1)


def value_text(figure: Figure, value: Any, fmt: Formatter) -> str:
    if figure.key in MONEY:
        return fmt.money(value)
    if figure.key == "retention":
        return fmt.percent(value)
    return fmt.integer(value)


def change_text(figure: Figure, fmt: Formatter) -> str:
    change = figure.change
    if change is None:
        return fmt.missing if figure.key != "equity" else ""
    if figure.key == "retention":
        return fmt.points(change)
    text = fmt.percent(change)
    return ("+" + text) if change > 0 else text


def sparkline(values: list[Any], colour: str, width: int = 110, height: int = 26) -> str:
    """A small inline SVG line of the values (gaps where hidden), its last point marked."""
    numbers = [as_float(v) for v in values]
    known = [v for v in numbers if v is not None]
    if len(known) < 2:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = (width - 6) / max(len(numbers) - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{3 + i * step:.1f},{height - 3 - (v - low) / span * (height - 6):.1f}"

    lines: list[list[str]] = []
    current: list[str] = []
    for i, v in enumerate(numbers):
        if v is None:
            lines.append(current)
            current = []
        else:
            current.append(point(i, v))
    lines.append(current)
    paths = "".join(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                    'stroke-width="1.5"/>' for seg in lines if len(seg) > 1)
    last = next(((i, v) for i, v in reversed(list(enumerate(numbers))) if v is not None))
    x, y = point(*last).split(",")
    return (f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}">{paths}'
            f'<circle cx="{x}" cy="{y}" r="2.2" fill="{colour}"/></svg>')


def sentences(summary: PeriodSummary, figs: list[Figure], campaigns: Sequence[Mapping[Any, Any]],
              fmt: Formatter) -> list[str]:
    """Three to five sentences from the numbers: what happened, and what is not significant.

    ``campaigns`` are the suppressed campaign totals (:func:`report.results.campaign_totals`)."""
    t = LABELS[fmt.language]
    by_key = {f.key: f for f in figs}
    unit = t[f"unit_{summary.kind}"]
    label = period_label(summary.current.period, fmt)
    out: list[str] = []
    revenue, active = by_key["revenue"], by_key["active"]
    if summary.current.active == 0:
        out.append(t["s_no_orders"].format(period=label))
    elif revenue.value is SUPPRESSED:
        out.append(t["s_too_few"].format(period=label))
    else:
        money: Callable[[Any], str] = fmt.money
        if revenue.change is not None:
            out.append(t["s_revenue_change"].format(
                period=label, value=money(revenue.value), change=change_text(revenue, fmt),
                previous=money(revenue.previous), unit=unit))
        else:
            out.append(t["s_revenue"].format(period=label, value=money(revenue.value)))
        history = [v for v in map(as_float, revenue.values[:-1]) if v is not None]
        if len(history) >= 3:
            now = float(revenue.value)
            key = ("s_range_high" if now > max(history) else
                   "s_range_low" if now < min(history) else "s_range_within")
            out.append(t[key].format(n=len(history), unit_plural=t[f"units_{summary.kind}"],
                                     low=money(min(history)), high=money(max(history))))
        out.append(_customers_sentence(by_key, fmt, t, unit, active))
    out.extend(_campaign_sentence(c, fmt, t) for c in campaigns[:2])
    equity = by_key["equity"].value
    if as_float(equity) is not None and len(out) < 5:
        out.append(t["s_equity"].format(value=fmt.money(equity)))
    return out[:5]


def _customers_sentence(by_key: Mapping[str, Figure], fmt: Formatter, t: Mapping[str, str],
                        unit: str, active: Figure) -> str:
    retention, new = by_key["retention"], by_key["new"]
    text = (t["s_customers"].format(active=fmt.integer(active.value),
                                    new=fmt.integer(new.value))
            if as_float(new.value) is not None else
            t["s_buyers"].format(active=fmt.integer(active.value)))
    if as_float(retention.value) is not None:
        text += " " + t["s_retention"].format(value=fmt.percent(retention.value), unit=unit,
                                              previous=fmt.percent(retention.previous))
    return text


def _campaign_sentence(row: Mapping[Any, Any], fmt: Formatter, t: Mapping[str, str]) -> str:
    low, high = as_float(row["ci_low"]), as_float(row["ci_high"])
    if low is None or high is None:
        return t["s_campaign_unknown"].format(campaign=row["campaign"])
    key = "s_campaign_significant" if low > 0 or high < 0 else "s_campaign_not_significant"
    if as_float(row["incremental_revenue"]) is None:  # hidden or undefined: not mentioned
        key += "_short"
    return t[key].format(campaign=row["campaign"], uplift=fmt.points(row["uplift_abs"]),
                         low=fmt.points(low), high=fmt.points(high),
                         incremental=fmt.money(row["incremental_revenue"]))


def period_dates(period: Period, fmt: Formatter) -> str:
    return f"{fmt.date(period.start)} – {fmt.date(period.end)}"


def day_after(period: Period) -> dt.date:
    return period.end + dt.timedelta(days=1)
