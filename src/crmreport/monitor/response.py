"""Campaign response: responders, uplift against the control group, incremental revenue, ROI.

A responder is a contacted customer (either group) with at least one purchase (net_orders.py:
not reversed by a credit note known before ``as_of``) whose order_date lies in
(contacted_at, contacted_at + window_days]: the day of contact itself does not count, the last
day of the window does. Each (campaign, customer) counts once, on its
first contact in that campaign, so a second wave does not double a customer. Given an
``as_of``, only contacts whose window has fully passed before it are measured: a campaign
still inside its window would otherwise read as a failure. Revenue is net: partial credit
notes in the window subtract.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy.special import ndtr, ndtri  # scipy.stats' normal, unimported: see stats.py

from crmreport.engine import Connection
from crmreport.tables import CONTACTS

Z95 = float(ndtri(0.975))
# A return ratio over a cost below MIN_COST currency units, or below MIN_COST_SHARE of the
# treated customers' revenue, is noise over a rounding error (emails cost fractions of a
# cent): no ROI is given for it.
MIN_COST = 1.0
MIN_COST_SHARE = 0.01

# Per day measured as of (number i of the days), campaign x segment x channel, both groups;
# GROUPING SETS adds the per-campaign total. One query for several days: the first contacts
# are found once. {days} and {orders} list the days ($day0, ...) and each one's net revenue.
_SQL = f"""
WITH first_contact AS (
    -- one whole row per (campaign, customer): its first contact, ties broken by run and channel
    SELECT campaign, customer_id, contacted_at, segment, channel, test_group
    FROM {CONTACTS}
    WHERE customer_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY campaign, customer_id
                               ORDER BY contacted_at, run_id, channel, test_group) = 1
),
measured AS (  -- those whose window has passed before the day
    SELECT d.i, c.* FROM ({{days}}) d JOIN first_contact c ON c.contacted_at + $window < d.day
),
outcome AS (
    SELECT c.i, c.campaign, c.customer_id, c.segment, c.channel, c.test_group,
           count(o.order_id) FILTER (o.kind = 'purchase') > 0 AS responded,
           coalesce(sum(o.amount), 0) AS revenue
    FROM measured c
    -- net revenue as known on the day: purchases not reversed since, minus partial credit notes
    LEFT JOIN ({{orders}}) o
      ON o.i = c.i
     AND o.customer_id = c.customer_id
     AND o.order_date > c.contacted_at
     AND o.order_date <= c.contacted_at + $window
    GROUP BY ALL
)
SELECT i, campaign, segment, channel, grouping(segment, channel) > 0 AS is_total,
       count(*) FILTER (test_group = 'treatment') AS contacted,
       count(*) FILTER (test_group = 'control') AS control,
       count(*) FILTER (test_group = 'treatment' AND responded) AS responders_t,
       count(*) FILTER (test_group = 'control' AND responded) AS responders_c,
       CAST(coalesce(sum(revenue) FILTER (test_group = 'treatment'), 0) AS DOUBLE) AS revenue_t,
       CAST(coalesce(sum(revenue) FILTER (test_group = 'control'), 0) AS DOUBLE) AS revenue_c
FROM outcome
GROUP BY GROUPING SETS ((i, campaign, segment, channel), (i, campaign))
ORDER BY i, campaign, is_total, segment, channel
"""
_NO_DAY = dt.date(9999, 12, 31)  # as of no day: every contact measured, every order counted


@dataclass(frozen=True)
class Uplift:
    """Treatment vs control response. ``relative`` is None when the control rate is 0."""

    rate_t: float
    rate_c: float
    absolute: float
    relative: float | None
    ci_low: float
    ci_high: float
    p_value: float | None


def uplift(n_t: int, x_t: int, n_c: int, x_c: int) -> Uplift:
    """Difference of two proportions with a 95% interval and a two-sided pooled z-test.

    The interval is Newcombe's hybrid score interval (1998, method 10), built from the two
    groups' Wilson intervals: unlike the simple Wald interval it stays sensible when a group
    has no responders or only responders, which small control groups often do.
    """
    if n_t <= 0 or n_c <= 0:
        raise ValueError("uplift needs at least one customer in each group")
    rate_t, rate_c = x_t / n_t, x_c / n_c
    diff = rate_t - rate_c
    low_t, high_t = _wilson(x_t, n_t)
    low_c, high_c = _wilson(x_c, n_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    # Both groups all-or-nothing: the test has no variance to work with.
    p_value = float(2 * ndtr(-abs(diff) / se0)) if se0 > 0 else None
    return Uplift(
        rate_t=rate_t,
        rate_c=rate_c,
        absolute=diff,
        relative=diff / rate_c if rate_c else None,
        ci_low=diff - math.hypot(rate_t - low_t, high_c - rate_c),
        ci_high=diff + math.hypot(high_t - rate_t, rate_c - low_c),
        p_value=p_value,
    )


def _wilson(x: int, n: int) -> tuple[float, float]:
    """The Wilson score interval of x successes in n trials."""
    z2 = Z95 * Z95
    centre = (x + z2 / 2) / (n + z2)
    half = Z95 * math.sqrt(x * (n - x) / n + z2 / 4) / (n + z2)
    return centre - half, centre + half


COLUMNS = [
    "campaign", "segment", "channel", "is_total", "contacted", "control",
    "responders_t", "responders_c", "rate_t", "rate_c", "uplift_abs", "uplift_rel",
    "ci_low", "ci_high", "p_value", "rev_per_contact_t", "rev_per_contact_c",
    "incremental_revenue", "cost", "roi",
]


def response_table(
    con: Connection, window_days: int, costs: dict[str, float],
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """One row per campaign x segment x channel plus a total row per campaign (``is_total``).

    ``costs`` is the cost of one treated contact per channel; a channel missing there costs 0.
    ROI is None where the cost is negligible (see ``MIN_COST``).
    """
    return response_tables(con, window_days, costs, [as_of])[0]


def response_tables(
    con: Connection, window_days: int, costs: dict[str, float],
    days: Sequence[dt.date | None],
) -> list[pd.DataFrame]:
    """:func:`response_table` as of each of ``days``, in one query."""
    numbers = range(len(days))
    sql = _SQL.format(
        days=" UNION ALL ".join(f"SELECT {i} AS i, $day{i} AS day" for i in numbers),
        orders=" UNION ALL ".join(f"SELECT {i} AS i, * FROM net_revenue($day{i})"
                                  for i in numbers))
    counts = con.execute(sql, {"window": int(window_days)} | {
        f"day{i}": _NO_DAY if day is None else day for i, day in enumerate(days)}).df()
    return [_table(counts[counts["i"] == i], costs) for i in numbers]


def _table(counts: pd.DataFrame, costs: dict[str, float]) -> pd.DataFrame:
    detail = counts[~counts["is_total"]]
    # The total's cost is the sum over its channels, which a single rate cannot give.
    cost = detail["contacted"] * detail["channel"].map(lambda c: costs.get(c, 0.0))
    cost_by_campaign = cost.groupby(detail["campaign"]).sum()
    rows = [_row(r, costs, cost_by_campaign) for r in counts.to_dict("records")]
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(r: dict[Hashable, Any], costs: dict[str, float],
         campaign_cost: pd.Series) -> dict[str, Any]:
    n_t, n_c = int(r["contacted"]), int(r["control"])
    total = bool(r["is_total"])
    out = {
        "campaign": r["campaign"],
        "segment": None if total else r["segment"],
        "channel": None if total else r["channel"],
        "is_total": total,
        "contacted": n_t,
        "control": n_c,
        "responders_t": int(r["responders_t"]),
        "responders_c": int(r["responders_c"]),
    }
    rev_t = r["revenue_t"] / n_t if n_t else None
    rev_c = r["revenue_c"] / n_c if n_c else None
    cost = float(campaign_cost.get(r["campaign"], 0.0)) if total else (
        n_t * costs.get(r["channel"], 0.0)
    )
    out |= {"rev_per_contact_t": rev_t, "rev_per_contact_c": rev_c, "cost": cost}
    out |= _comparison(n_t, int(r["responders_t"]), n_c, int(r["responders_c"]))
    incremental = (rev_t - rev_c) * n_t if rev_t is not None and rev_c is not None else None
    out["incremental_revenue"] = incremental
    negligible = cost < MIN_COST or cost < MIN_COST_SHARE * float(r["revenue_t"])
    out["roi"] = (incremental - cost) / cost if incremental is not None and not negligible \
        else None
    return out


def _comparison(n_t: int, x_t: int, n_c: int, x_c: int) -> dict[str, Any]:
    if not n_t or not n_c:
        return {
            "rate_t": x_t / n_t if n_t else None,
            "rate_c": x_c / n_c if n_c else None,
            "uplift_abs": None, "uplift_rel": None, "ci_low": None, "ci_high": None,
            "p_value": None,
        }
    u = uplift(n_t, x_t, n_c, x_c)
    return {
        "rate_t": u.rate_t, "rate_c": u.rate_c, "uplift_abs": u.absolute,
        "uplift_rel": u.relative, "ci_low": u.ci_low, "ci_high": u.ci_high,
        "p_value": u.p_value,
    }
