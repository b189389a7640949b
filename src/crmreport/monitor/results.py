"""Campaign results: treated vs control per campaign, offer, segment, contact channel and
A/B/n variant, with intervals, CUPED, cost and return, and incremental revenue by order channel.

Who counts and when (as in :mod:`crmreport.monitor.response`): each (campaign, customer) once,
on its first contact in that campaign, if its response window has passed before ``as_of``. A
responder made at least one purchase (not reversed by a credit note known before ``as_of``) on
any order channel (online shop, store, ...) in (contacted_at, contacted_at + window]. Revenue
is net (partial credit notes subtract) and is split by the order's own channel.

Rows per dimension partition the campaign: the levels of one dimension add up to the total
row. Variants are shown per offer (``variants``), adding up to their offer's row.

Figures (:mod:`crmreport.monitor.stats` has the methods):
- uplift = rate(treated) - rate(control), 95% interval by Newcombe's hybrid score method
  (from the groups' Wilson intervals), p-value by the pooled two-proportion z-test;
- incremental revenue = (mean revenue per treated customer - per control customer) x treated
  customers, 95% interval by Welch's t on per-customer revenue, scaled the same way;
- CUPED: the same with revenue adjusted by the customer's revenue in the ``pre_days`` before
  the contact (theta over treated + control), beside the plain estimate;
- cost = treated customers x their contact channel's cost per contact; return = incremental
  revenue (and margin, when a margin rate is given) per currency unit spent and cost per
  incremental order, shown only when the cost is not negligible: at least
  ``MIN_COST`` currency units and at least ``MIN_COST_SHARE`` of the treated revenue.
- variants: each variant's treated response against every other variant and against the
  offer's control group (pooled two-proportion z-test), Holm-adjusted per offer; a variant
  wins when it beats every other variant and the control at adjusted p < 0.05.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmreport.engine import Connection
from crmreport.monitor.response import MIN_COST, MIN_COST_SHARE, uplift
from crmreport.monitor.stats import cuped, holm, sample_size_per_group, two_proportion_z, welch

ALPHA = 0.05
DIMENSIONS = ("total", "offer", "segment", "channel")  # variants: per offer, in ``variants``

_CUSTOMERS = """
WITH first_contact AS (
    SELECT campaign, customer_id, contacted_at, segment, channel,
           coalesce(offer, '') AS offer, coalesce(variant, '') AS variant, test_group
    FROM contacts
    WHERE customer_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY campaign, customer_id
                               ORDER BY contacted_at, run_id, channel, test_group) = 1
       AND ($as_of IS NULL OR contacted_at + $window < $as_of)
),
money AS (
    SELECT n.customer_id, n.order_date, n.amount, n.kind,
           coalesce(o.channel, 'unknown') AS order_channel
    FROM net_revenue(coalesce($as_of, DATE '9999-12-31')) n
    LEFT JOIN (SELECT order_id, any_value(channel) AS channel FROM orders GROUP BY order_id) o
      USING (order_id)
)
SELECT c.campaign, c.customer_id, c.segment, c.channel, c.offer, c.variant,
       c.test_group = 'treatment' AS treated, m.order_channel,
       count(*) FILTER (m.kind = 'purchase' AND m.order_date > c.contacted_at
                        AND m.order_date <= c.contacted_at + $window) AS orders,
       CAST(coalesce(sum(m.amount) FILTER (m.order_date > c.contacted_at
                          AND m.order_date <= c.contacted_at + $window), 0) AS DOUBLE)
           AS revenue,
       CAST(coalesce(sum(m.amount) FILTER (m.order_date <= c.contacted_at
                          AND m.order_date > c.contacted_at - $pre), 0) AS DOUBLE)
           AS pre_revenue
FROM first_contact c
LEFT JOIN money m
  ON m.customer_id = c.customer_id
 AND m.order_date > c.contacted_at - $pre
 AND m.order_date <= c.contacted_at + $window
GROUP BY ALL
ORDER BY c.campaign, c.customer_id, m.order_channel
"""


@dataclass(frozen=True)
class CampaignResults:
    """Aggregates only. ``rows``: one per campaign x dimension x level (``dimension`` total
    has level None); ``variants``: one per campaign x offer x variant with its verdict;
    ``comparisons``: the variant tests; ``order_channels``: incremental revenue per campaign x
    contact channel (None = all) x order channel. Suppression (report) replaces figures by a
    marker; :meth:`as_dict` writes those as None and lists them under ``suppressed``."""

    window_days: int
    pre_days: int
    margin: float | None
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    variants: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    order_channels: pd.DataFrame = field(default_factory=pd.DataFrame)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days, "pre_days": self.pre_days, "margin": self.margin,
            "min_cost": MIN_COST, "min_cost_share": MIN_COST_SHARE,
            "interval_rates": "Newcombe hybrid score (Wilson)",
            "interval_revenue": "Welch t on revenue per customer",
            "variant_test": "pooled two-proportion z, Holm-adjusted per offer",
            "rows": _records(self.rows), "variants": _records(self.variants),
            "comparisons": _records(self.comparisons),
            "order_channels": _records(self.order_channels),
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in frame.to_dict("records"):
        row: dict[str, Any] = {}
        hidden = []
        for key, value in r.items():
            if value is None or isinstance(value, str | bool | int | float | np.generic):
                number = value.item() if isinstance(value, np.generic) else value
                row[str(key)] = None if isinstance(number, float) and math.isnan(number) \
                    else number
            else:  # the report's suppression marker
                row[str(key)] = None
                hidden.append(str(key))
        row["suppressed"] = hidden
        out.append(row)
    return out


def customer_outcomes(con: Connection, window_days: int,
                      as_of: dt.date | None, pre_days: int = 365) -> pd.DataFrame:
    """One row per (campaign, customer): groups, orders, revenue and pre-period revenue, and
    ``orders:<channel>``/``revenue:<channel>`` per order channel."""
    long = con.execute(_CUSTOMERS, {"window": int(window_days), "as_of": as_of,
                                    "pre": int(pre_days)}).df()
    keys = ["campaign", "customer_id", "segment", "channel", "offer", "variant", "treated"]
    base = long.groupby(keys, dropna=False, sort=True)[["orders", "revenue", "pre_revenue"]]\
        .sum().reset_index()
    bought = long[long["order_channel"].notna()]
    if len(bought):
        wide = bought.pivot_table(index=["campaign", "customer_id"], columns="order_channel",
                                  values=["orders", "revenue"], aggfunc="sum", fill_value=0)
        wide.columns = [f"{col[0]}:{col[1]}" for col in wide.columns]
        base = base.merge(wide.reset_index(), on=["campaign", "customer_id"], how="left")
    for col in (c for c in base.columns if ":" in c):
        base[col] = base[col].fillna(0)
    base["responded"] = base["orders"] > 0
    base["treated"] = base["treated"].astype(bool)
    return base


class _Columns:
    """A table's columns as numpy arrays, whose rows a mask selects: a DataFrame's row filter
    takes every column through pandas, which was most of the results' time."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.columns = columns

    @classmethod
    def of(cls, frame: pd.DataFrame, filled: Sequence[str] = ()) -> _Columns:
        """``frame``'s columns, those in ``filled`` with "" for a missing value."""
        return cls({str(name): (frame[name].fillna("") if name in filled else frame[name])
                    .to_numpy() for name in frame.columns})

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def where(self, mask: np.ndarray) -> _Columns:
        return _Columns({name: values[mask] for name, values in self.columns.items()})


def campaign_results(con: Connection, window_days: int,
                     costs: dict[str, float], as_of: dt.date | None = None,
                     margin: float | None = None, pre_days: int = 365) -> CampaignResults:
    data = customer_outcomes(con, window_days, as_of, pre_days)
    data["cost"] = np.where(data["treated"], data["channel"].map(
        lambda c: costs.get(c, 0.0)), 0.0)
    columns = _Columns.of(data.drop(columns="customer_id"), filled=DIMENSIONS[1:])
    rows, variants, comparisons, channels = [], [], [], []
    for campaign in sorted(set(columns["campaign"])):
        camp = columns.where(columns["campaign"] == campaign)
        for dimension in DIMENSIONS:
            if dimension == "total":
                rows.append(_figures(camp, margin) | {"campaign": campaign,
                                                       "dimension": "total", "level": None})
                continue
            levels = sorted(set(camp[dimension]))
            if len(levels) < 2:
                continue  # one level is the total again
            for level in levels:
                part = camp.where(camp[dimension] == level)
                rows.append(_figures(part, margin) | {"campaign": campaign,
                                                       "dimension": dimension, "level": level})
        for offer in sorted(set(camp["offer"])):
            v, c = _variant_tests(camp.where(camp["offer"] == offer))
            variants += [r | {"campaign": campaign, "offer": offer} for r in v]
            comparisons += [r | {"campaign": campaign, "offer": offer} for r in c]
        channels += [r | {"campaign": campaign} for r in _by_order_channel(camp)]
    return CampaignResults(
        window_days, pre_days, margin,
        rows=_frame(rows, ["campaign", "dimension", "level", *FIGURES]),
        variants=_frame(variants, ["campaign", "offer", *VARIANT_COLUMNS]),
        comparisons=_frame(comparisons, ["campaign", "offer", *COMPARISON_COLUMNS]),
        order_channels=_frame(channels, ["campaign", *ORDER_CHANNEL_COLUMNS]),
    )


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype(object)


FIGURES = [
    "contacted", "control", "responders_t", "responders_c", "rate_t", "rate_c",
    "uplift_abs", "uplift_rel", "ci_low", "ci_high", "p_value",
    "rev_t", "rev_c", "incremental_revenue", "inc_low", "inc_high",
    "cuped_revenue", "cuped_low", "cuped_high", "variance_reduction",
    "cost", "cost_negligible", "incremental_orders", "revenue_per_cost", "margin_per_cost",
    "cost_per_order",
]


def _figures(part: _Columns, margin: float | None) -> dict[str, Any]:
    t, c = part.where(part["treated"]), part.where(~part["treated"])
    n_t, n_c = len(t), len(c)
    x_t, x_c = int(t["responded"].sum()), int(c["responded"].sum())
    cost = float(t["cost"].sum())
    out: dict[str, Any] = dict.fromkeys(FIGURES)
    out |= {"contacted": n_t, "control": n_c, "responders_t": x_t, "responders_c": x_c,
            "rate_t": x_t / n_t if n_t else None, "rate_c": x_c / n_c if n_c else None,
            "rev_t": float(t["revenue"].mean()) if n_t else None,
            "rev_c": float(c["revenue"].mean()) if n_c else None, "cost": cost,
            "cost_negligible": _negligible(cost, float(t["revenue"].sum()))}
    if not n_t or not n_c:
        return out
    u = uplift(n_t, x_t, n_c, x_c)
    out |= {"uplift_abs": u.absolute, "uplift_rel": u.relative, "ci_low": u.ci_low,
            "ci_high": u.ci_high, "p_value": u.p_value}
    plain = welch(t["revenue"], c["revenue"])
    out |= {"incremental_revenue": plain.estimate * n_t, "inc_low": _scaled(plain.ci_low, n_t),
            "inc_high": _scaled(plain.ci_high, n_t)}
    adjusted = cuped(part["revenue"], part["pre_revenue"], part["treated"])
    if adjusted is not None:
        d = adjusted.difference
        out |= {"cuped_revenue": d.estimate * n_t, "cuped_low": _scaled(d.ci_low, n_t),
                "cuped_high": _scaled(d.ci_high, n_t),
                "variance_reduction": adjusted.variance_reduction}
    orders = (float(t["orders"].mean()) - float(c["orders"].mean())) * n_t
    out["incremental_orders"] = orders
    if not out["cost_negligible"]:
        inc = plain.estimate * n_t
        out["revenue_per_cost"] = inc / cost
        out["margin_per_cost"] = inc * margin / cost if margin is not None else None
        out["cost_per_order"] = cost / orders if orders > 0 else None
    return out


def _negligible(cost: float, revenue: float) -> bool:
    return cost < MIN_COST or cost < MIN_COST_SHARE * revenue


def _scaled(value: float | None, n: int) -> float | None:
    return None if value is None else value * n


VARIANT_COLUMNS = ["variant", "contacted", "responders_t", "rate_t", "control",
                   "responders_c", "rate_c", "verdict", "needed_per_group"]
COMPARISON_COLUMNS = ["first", "second", "rate_first", "rate_second", "p_value", "p_holm",
                      "significant"]
CONTROL = "control"


def _variant_tests(part: _Columns | pd.DataFrame,
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per variant of one offer its response, and the Holm-adjusted pairwise z-tests of the
    variants' treated response against each other and against the offer's pooled control."""
    variant = np.asarray(part["variant"])
    treated = np.asarray(part["treated"], dtype=bool)
    responded = np.asarray(part["responded"], dtype=bool)
    names = sorted(set(variant[treated]))
    if len(names) < 2:
        return [], []

    def arm(mask: np.ndarray) -> tuple[int, int]:
        return int(mask.sum()), int(responded[mask].sum())

    arms = {v: arm(treated & (variant == v)) for v in names}
    arms[CONTROL] = arm(~treated)
    pairs = [*itertools.combinations(names, 2), *((v, CONTROL) for v in names)]
    raw = [two_proportion_z(*arms[a], *arms[b]) for a, b in pairs]
    adjusted = holm(raw)
    comparisons = []
    for (a, b), p, p_adj in zip(pairs, raw, adjusted, strict=True):
        comparisons.append({
            "first": a, "second": b, "rate_first": _rate(*arms[a]),
            "rate_second": _rate(*arms[b]), "p_value": p, "p_holm": p_adj,
            "significant": p_adj is not None and p_adj < ALPHA})
    winner = None
    for v in names:
        beats = [c for c in comparisons if v in (c["first"], c["second"])]
        if all(c["significant"] and _rate(*arms[v]) > _rate(*arms[_other(c, v)])
               for c in beats):
            winner = v
    best = sorted(names, key=lambda v: -_rate(*arms[v]))
    needed = None if winner else sample_size_per_group(_rate(*arms[best[0]]),
                                                       _rate(*arms[best[1]]))
    variants = []
    for v in names:
        own_control = arm(~treated & (variant == v))
        variants.append({
            "variant": v, "contacted": arms[v][0], "responders_t": arms[v][1],
            "rate_t": _rate(*arms[v]), "control": own_control[0],
            "responders_c": own_control[1], "rate_c": _rate(*own_control),
            "verdict": "winner" if v == winner else "no_winner" if winner is None else "lost",
            "needed_per_group": needed})
    return variants, comparisons


def _rate(n: int, x: int) -> float:
    return x / n if n else math.nan


def _other(comparison: dict[str, Any], name: str) -> str:
    return str(comparison["second"] if comparison["first"] == name else comparison["first"])


ORDER_CHANNEL_COLUMNS = ["contact_channel", "order_channel", "contacted", "control",
                         "buyers_t", "buyers_c", "rev_t", "rev_c", "incremental_revenue",
                         "inc_low", "inc_high"]


def _by_order_channel(camp: _Columns) -> list[dict[str, Any]]:
    """Incremental revenue per order channel, over all contacts and per contact channel."""
    order_channels = sorted(c.split(":", 1)[1] for c in camp.columns
                            if c.startswith("revenue:"))
    parts: list[tuple[str | None, _Columns]] = [(None, camp)]
    contact_channels = sorted(set(camp["channel"]))
    if len(contact_channels) > 1:
        parts += [(ch, camp.where(camp["channel"] == ch)) for ch in contact_channels]
    rows = []
    for contact, part in parts:
        t, c = part.where(part["treated"]), part.where(~part["treated"])
        for ch in order_channels:
            row: dict[str, Any] = dict.fromkeys(ORDER_CHANNEL_COLUMNS)
            row |= {"contact_channel": contact, "order_channel": ch, "contacted": len(t),
                    "control": len(c), "buyers_t": int((t[f"orders:{ch}"] > 0).sum()),
                    "buyers_c": int((c[f"orders:{ch}"] > 0).sum())}
            if len(t) and len(c):
                d = welch(t[f"revenue:{ch}"], c[f"revenue:{ch}"])
                row |= {"rev_t": float(t[f"revenue:{ch}"].mean()),
                        "rev_c": float(c[f"revenue:{ch}"].mean()),
                        "incremental_revenue": d.estimate * len(t),
                        "inc_low": _scaled(d.ci_low, len(t)),
                        "inc_high": _scaled(d.ci_high, len(t))}
            rows.append(row)
    return rows
