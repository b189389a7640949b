"""Campaign response: responders, uplift against the control group, incremental revenue, ROI.

A responder is a contacted customer (either group) with at least one completed order whose
order_date lies in (contacted_at, contacted_at + window_days]: the day of contact itself does
not count, the last day of the window does. Each (campaign, customer) counts once, on its
first contact in that campaign, so a second wave does not double a customer. Given an
``as_of``, only contacts whose window has fully passed before it are measured: a campaign
still inside its window would otherwise read as a failure.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import pandas as pd
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))

# Per campaign x segment x channel, both groups; GROUPING SETS adds the per-campaign total.
_SQL = """
WITH first_contact AS (
    SELECT campaign, customer_id,
           arg_min(contacted_at, contacted_at) AS contacted_at,
           arg_min(segment, contacted_at) AS segment,
           arg_min(channel, contacted_at) AS channel,
           arg_min(test_group, contacted_at) AS test_group
    FROM contacts
    WHERE customer_id IS NOT NULL
    GROUP BY campaign, customer_id
    HAVING $as_of IS NULL OR min(contacted_at) + $window < $as_of
),
outcome AS (
    SELECT c.campaign, c.customer_id, c.segment, c.channel, c.test_group,
           count(o.order_id) > 0 AS responded,
           coalesce(sum(o.amount), 0) AS revenue
    FROM first_contact c
    LEFT JOIN orders o
      ON o.customer_id = c.customer_id
     AND o.status = 'completed'
     AND o.order_date > c.contacted_at
     AND o.order_date <= c.contacted_at + $window
    GROUP BY ALL
)
SELECT campaign, segment, channel, grouping(segment, channel) > 0 AS is_total,
       count(*) FILTER (test_group = 'treatment') AS contacted,
       count(*) FILTER (test_group = 'control') AS control,
       count(*) FILTER (test_group = 'treatment' AND responded) AS responders_t,
       count(*) FILTER (test_group = 'control' AND responded) AS responders_c,
       CAST(coalesce(sum(revenue) FILTER (test_group = 'treatment'), 0) AS DOUBLE) AS revenue_t,
       CAST(coalesce(sum(revenue) FILTER (test_group = 'control'), 0) AS DOUBLE) AS revenue_c
FROM outcome
GROUP BY GROUPING SETS ((campaign, segment, channel), (campaign))
ORDER BY campaign, is_total, segment, channel
"""


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
    """Difference of two proportions: Wald 95% CI (unpooled SE), two-sided pooled z-test."""
    if n_t <= 0 or n_c <= 0:
        raise ValueError("uplift needs at least one customer in each group")
    rate_t, rate_c = x_t / n_t, x_c / n_c
    diff = rate_t - rate_c
    se = math.sqrt(rate_t * (1 - rate_t) / n_t + rate_c * (1 - rate_c) / n_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    # Both groups all-or-nothing: the test has no variance to work with.
    p_value = float(2 * norm.sf(abs(diff) / se0)) if se0 > 0 else None
    return Uplift(
        rate_t=rate_t,
        rate_c=rate_c,
        absolute=diff,
        relative=diff / rate_c if rate_c else None,
        ci_low=diff - Z95 * se,
        ci_high=diff + Z95 * se,
        p_value=p_value,
    )


COLUMNS = [
    "campaign", "segment", "channel", "is_total", "contacted", "control",
    "responders_t", "responders_c", "rate_t", "rate_c", "uplift_abs", "uplift_rel",
    "ci_low", "ci_high", "p_value", "rev_per_contact_t", "rev_per_contact_c",
    "incremental_revenue", "cost", "roi",
]


def response_table(
    con: duckdb.DuckDBPyConnection, window_days: int, costs: dict[str, float],
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """One row per campaign x segment x channel plus a total row per campaign (``is_total``).

    ``costs`` is the cost of one treated contact per channel; a channel missing there costs 0
    and its ROI is None.
    """
    counts = con.execute(_SQL, {"window": int(window_days), "as_of": as_of}).df()
    detail = counts[~counts["is_total"]]
    # The total's cost is the sum over its channels, which a single rate cannot give.
    cost = detail["contacted"] * detail["channel"].map(lambda c: costs.get(c, 0.0))
    cost_by_campaign = cost.groupby(detail["campaign"]).sum()
    rows = [_row(r, costs, cost_by_campaign) for r in counts.to_dict("records")]
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(r: dict, costs: dict[str, float], campaign_cost: pd.Series) -> dict:
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
    out["roi"] = (incremental - cost) / cost if incremental is not None and cost else None
    return out


def _comparison(n_t: int, x_t: int, n_c: int, x_c: int) -> dict:
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
