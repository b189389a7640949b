"""The executive summary's figures per period (ISO week, calendar month or quarter).

The reported period is the last one that ends before ``as_of`` (orders before ``as_of``
count, as everywhere), so a weekly job run on Monday reports the week that ended on Sunday.
Per period, counted from purchases and net revenue as known at ``as_of``
(features/net_orders.py; guest orders belong to no customer and are not counted):

- revenue: net revenue of orders dated in the period (credit notes subtract);
- active customers: customers with a purchase in the period;
- new customers: customers whose first purchase is in the period;
- retention: of the previous period's active customers, the share with a purchase in this
  period (``retained`` / ``base``);
- campaign incremental revenue: the response monitoring (monitor/response.py) as it stood at
  the period's end, i.e. over the campaigns whose response window had closed by then; the
  table is kept whole so the report suppresses small cells in it as in its own section.

Customer equity (sum of the 52-week CLV) exists only at ``as_of``, where the model is fitted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from crmreport.engine import Connection
from crmreport.monitor.response import response_table, response_tables

PeriodKind = Literal["week", "month", "quarter"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("week", "month", "quarter")
TREND_PERIODS = 8


@dataclass(frozen=True)
class Period:
    """One period: ``start`` and ``end`` are its first and last day (inclusive)."""

    kind: PeriodKind
    start: dt.date
    end: dt.date

    @property
    def slug(self) -> str:
        """Its name in file paths and JSON: 2026-W09, 2026-03, 2026-Q1."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    def previous(self) -> Period:
        return period_containing(self.kind, self.start - dt.timedelta(days=1))


def _month_start(year: int, month: int) -> dt.date:
    """The first day of month ``month`` counted from January of ``year`` (may overflow)."""
    index = year * 12 + month - 1
    return dt.date(index // 12, index % 12 + 1, 1)


def period_containing(kind: PeriodKind, day: dt.date) -> Period:
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return Period(kind, start, start + dt.timedelta(days=6))
    months = 1 if kind == "month" else 3
    first = day.month if kind == "month" else (day.month - 1) // 3 * 3 + 1
    start = dt.date(day.year, first, 1)
    return Period(kind, start, _month_start(day.year, first + months) - dt.timedelta(days=1))


def last_complete_period(kind: PeriodKind, as_of: dt.date) -> Period:
    """The last period whose every day lies before ``as_of``."""
    period = period_containing(kind, as_of)
    return period if period.end < as_of else period.previous()


@dataclass(frozen=True)
class PeriodFigures:
    """Raw counts of one period; the report suppresses small ones before showing them."""

    period: Period
    revenue: float
    active: int
    new: int
    retained: int  # active in the previous period and in this one
    base: int  # active in the previous period
    response: pd.DataFrame  # response_table as of the day after the period

    @property
    def retention(self) -> float | None:
        return self.retained / self.base if self.base else None


@dataclass(frozen=True)
class PeriodSummary:
    """The reported period last in ``periods`` (oldest first, up to TREND_PERIODS)."""

    kind: PeriodKind
    as_of: dt.date
    periods: list[PeriodFigures]
    equity: float | None  # sum of the 52-week CLV at as_of; None without a value model

    @property
    def current(self) -> PeriodFigures:
        return self.periods[-1]

    @property
    def previous(self) -> PeriodFigures | None:
        return self.periods[-2] if len(self.periods) > 1 else None


# Per period (number i of {periods}: its first and last day, and its previous period's):
# revenue, active and new customers, and those active in the period before and how many of
# them are active in it.
_SQL = """
WITH p AS ({periods}),
bought AS (SELECT DISTINCT customer_id, order_date FROM purchases($as_of)),
now AS (SELECT DISTINCT p.i, b.customer_id FROM p
        JOIN bought b ON b.order_date BETWEEN p.this_start AND p.this_end),
before AS (SELECT DISTINCT p.i, b.customer_id FROM p
           JOIN bought b ON b.order_date BETWEEN p.before_start AND p.before_end),
firsts AS (SELECT customer_id, min(order_date) AS first_day FROM bought GROUP BY customer_id)
SELECT CAST(coalesce(revenue.amount, 0) AS DOUBLE), coalesce(active.n, 0),
       coalesce(new.n, 0), coalesce(retained.n, 0), coalesce(base.n, 0)
FROM p
LEFT JOIN (SELECT p.i, sum(r.amount) AS amount FROM p JOIN net_revenue($as_of) r
           ON r.order_date BETWEEN p.this_start AND p.this_end GROUP BY p.i) revenue
  ON revenue.i = p.i
LEFT JOIN (SELECT i, count(*) AS n FROM now GROUP BY i) active ON active.i = p.i
LEFT JOIN (SELECT p.i, count(*) AS n FROM p JOIN firsts f
           ON f.first_day BETWEEN p.this_start AND p.this_end GROUP BY p.i) new
  ON new.i = p.i
LEFT JOIN (SELECT b.i, count(*) AS n FROM before b JOIN now n
           ON n.i = b.i AND n.customer_id = b.customer_id GROUP BY b.i) retained
  ON retained.i = p.i
LEFT JOIN (SELECT i, count(*) AS n FROM before GROUP BY i) base ON base.i = p.i
ORDER BY p.i
"""


def period_figures(
    con: Connection, period: Period, as_of: dt.date, window_days: int, costs: dict[str, float],
) -> PeriodFigures:
    response = response_table(con, window_days, costs, _day_after(period))
    return _figures(period, _counts(con, [period], as_of)[0], response)


def _counts(con: Connection, periods: Sequence[Period], as_of: dt.date) -> list[tuple[Any, ...]]:
    """Each period's revenue, active, new, retained and base, in one query."""
    listed = " UNION ALL ".join(
        f"SELECT {i} AS i, $start{i} AS this_start, $end{i} AS this_end, "
        f"$before_start{i} AS before_start, $before_end{i} AS before_end"
        for i in range(len(periods)))
    days: dict[str, dt.date] = {"as_of": as_of}
    for i, period in enumerate(periods):
        before = period.previous()
        days |= {f"start{i}": period.start, f"end{i}": period.end,
                 f"before_start{i}": before.start, f"before_end{i}": before.end}
    return con.execute(_SQL.format(periods=listed), days).fetchall()


def _figures(period: Period, counts: tuple[Any, ...], response: pd.DataFrame) -> PeriodFigures:
    revenue, active, new, retained, base = counts
    return PeriodFigures(period, round(float(revenue), 2), int(active), int(new),
                         int(retained), int(base), response)


def _day_after(period: Period) -> dt.date:
    return period.end + dt.timedelta(days=1)


def period_summary(
    con: Connection, kind: PeriodKind, as_of: dt.date, window_days: int,
    costs: dict[str, float], equity: float | None = None, periods: int = TREND_PERIODS,
) -> PeriodSummary:
    """The last ``periods`` complete periods before ``as_of``, oldest first."""
    period = last_complete_period(kind, as_of)
    chain = [period]
    while len(chain) < periods:
        chain.append(chain[-1].previous())
    chain.reverse()
    responses = response_tables(con, window_days, costs, [_day_after(p) for p in chain])
    figures = [_figures(*each) for each in zip(chain, _counts(con, chain, as_of), responses,
                                               strict=True)]
    return PeriodSummary(kind, as_of, figures, equity)
