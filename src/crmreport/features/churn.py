"""Churn risk learnt from the shop's own history on a time split.

BG/NBD cannot see dropout on a short window: a one-time buyer always has P(alive) = 1, however
long they have been silent. So churn risk is a classifier's probability that a buyer places no
completed order in the next ``horizon`` days (N, default 90).

Features are computed in SQL as of a cut-off from completed orders dated before it; the label
is "no completed order in [cut-off, cut-off + N)". With as_of exclusive, as everywhere:

- train: features as of as_of - 2N, labels from [as_of - 2N, as_of - N);
- check: features as of as_of - N, labels from [as_of - N, as_of): the reported AUC,
  precision in the top decile, Brier score and reliability table are on this split;
- score: the model is refitted on the check split and applied to features as of as_of.

No split reads an order on or after its label window's end. Customers without completed
orders get no churn risk (NULL): there is nothing to lapse from.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from crmreport import model_worker
from crmreport.engine import Connection
from crmreport.features.model_reasons import ModelReason
from crmreport.features.value_models import ValueModel

CUSTOMER_CHURN = "customer_churn"  # a working table: features joins it into ``features``
DEFAULT_HORIZON_DAYS = 90
MIN_PER_CLASS = 20  # churners and stayers each, in both splits: fewer say nothing reliable
RELIABILITY_BINS = 5
RISK_BANDS = (0.0, 0.2, 0.4, 0.6, 0.8)  # lower edges of the churn risk distribution's bands

CHURN_COLUMNS: dict[str, str] = {
    "days_overdue": "days since the last order beyond the customer's mean gap between order "
                    "days (one-time buyers: the median of repeat buyers' mean gaps); 0 when "
                    "not overdue, NULL without orders",
    "churn_risk": "probability of no completed order in the next N days (churn model; "
                  "campaign churn.horizon_days, default 90)",
}

# The model's inputs, all from completed orders before the cut-off (monetary: their net
# revenue, partial credit notes subtracted, as the feature of that name); log1p tames tails.
MODEL_FEATURES = ("recency_days", "orders", "monetary", "tenure_days", "mean_gap_days",
                  "days_overdue", "orders_90d", "orders_365d", "one_time")


@dataclass(frozen=True)
class ChurnModel:
    """The churn model's check on the later split and the risk it gave, or why there is none."""

    reason: str | None = None
    reason_code: ModelReason | None = None  # ``reason`` as a code, for the report's language
    horizon_days: int = DEFAULT_HORIZON_DAYS
    model: str = "logistic regression on log1p features, standardised"
    train_cutoff: str | None = None
    check_cutoff: str | None = None
    train_customers: int = 0
    check_customers: int = 0
    check_churn_rate: float | None = None  # share of the check split that did churn
    auc: float | None = None
    precision_top_decile: float | None = None
    brier: float | None = None
    reliability: list[dict[str, float]] = field(default_factory=list)
    scored: int = 0
    bands: list[dict[str, Any]] = field(default_factory=list)  # churn risk as of as_of
    btyd_no_dropout: bool = False
    btyd_dropout_per_purchase: float | None = None  # BG/NBD a / (a + b)
    btyd_below_half: int | None = None  # customers with P(alive) < 0.5

    @property
    def available(self) -> bool:
        return self.reason is None

    @property
    def btyd_note(self) -> str | None:
        """In words, when the BTYD fit cannot tell who has lapsed."""
        if not self.btyd_no_dropout:
            return None
        return (f"The BG/NBD fit finds no dropout (mean dropout chance per purchase "
                f"{self.btyd_dropout_per_purchase or 0:.2g}, {self.btyd_below_half or 0} "
                "customers with P(alive) < 0.5): P(alive) cannot tell who has lapsed; "
                "churn_risk comes from the churn model instead.")

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__
                if k != "reason_code"} | {"btyd_note": self.btyd_note}


def history_sql(cutoffs: list[dt.date], horizon_days: int, labelled: int) -> str:
    """One row per customer, for each cut-off k the raw inputs as of it (columns ending in
    ``_k``) and, for the first ``labelled`` ones, ``bought_k``: whether they bought in
    [cut-off, cut-off + N), as known at its end. One scan of net revenue's rows
    (``net_revenue_spans``) serves every cut-off, and reads nothing on or after the last day
    a cut-off or label window needs.

    Rows are summed per order day first, then per customer: days with a purchase are the
    order days (a DISTINCT aggregate cost more than the rest of the query), and a
    credit-note-only day is none.
    """
    cuts = [f"DATE '{c.isoformat()}'" for c in cutoffs]
    ends = [f"{c} + {int(horizon_days)}" for c in cuts[:labelled]]
    span = dt.timedelta(days=horizon_days)
    last = f"DATE '{max([*cutoffs, *(c + span for c in cutoffs[:labelled])]).isoformat()}'"
    per_day, per_customer = [], []
    for k, c in enumerate(cuts):
        known = f"order_date < {c} AND coalesce(ends >= {c}, true)"
        per_day += [f"count(*) FILTER (WHERE kind = 'purchase' AND {known}) AS orders_{k}",
                    f"sum(amount) FILTER (WHERE {known}) AS net_{k}"]
        bought = f"orders_{k} > 0"
        per_customer += [
            f"sum(orders_{k}) AS orders_{k}",
            f"count(*) FILTER (WHERE {bought}) AS order_days_{k}",
            f"min(order_date) FILTER (WHERE {bought}) AS first_day_{k}",
            f"max(order_date) FILTER (WHERE {bought}) AS last_day_{k}",
            f"coalesce(sum(orders_{k}) FILTER (WHERE order_date >= {c} - 90), 0) "
            f"AS orders_90d_{k}",
            f"coalesce(sum(orders_{k}) FILTER (WHERE order_date >= {c} - 365), 0) "
            f"AS orders_365d_{k}",
            f"greatest(sum(net_{k}), 0)::DOUBLE AS monetary_{k}"]  # log1p: not below 0
    for k, end in enumerate(ends):  # the label windows [cut-off, end)
        window = (f"order_date >= {cuts[k]} AND order_date < {end} "
                  f"AND coalesce(ends >= {end}, true)")
        per_day.append(f"count(*) FILTER (WHERE kind = 'purchase' AND {window}) AS later_{k}")
        per_customer.append(f"sum(later_{k}) > 0 AS bought_{k}")
    return f"""
    WITH days AS (
        SELECT customer_id, order_date, {", ".join(per_day)}
        FROM net_revenue_spans({last}) WHERE customer_id IS NOT NULL
        GROUP BY customer_id, order_date
    )
    SELECT customer_id, {", ".join(per_customer)} FROM days GROUP BY customer_id"""


def cut_sql(history: str, k: int, cutoff: dt.date, labelled: bool) -> str:
    """The model's inputs as of cut-off ``k`` of ``history`` (``history_sql``), one row per
    buyer, sorted by customer_id; with ``churned`` (1: no purchase in the next N days) when
    ``labelled``.

    A one-time buyer's expected gap is the median of the repeat buyers' mean gaps between
    order days as of the same cut-off.
    """
    c = f"DATE '{cutoff.isoformat()}'"
    churned = f", (NOT bought_{k})::INTEGER AS churned" if labelled else ""
    return f"""
    WITH g AS (
        SELECT *, CASE WHEN order_days_{k} > 1 THEN date_diff('day', first_day_{k},
                   last_day_{k}) / (order_days_{k} - 1) END AS own_gap
        FROM {history} WHERE orders_{k} > 0  -- buyers only
    ), typical AS (SELECT median(own_gap) AS gap FROM g)
    SELECT customer_id, date_diff('day', last_day_{k}, {c})::DOUBLE AS recency_days,
           orders_{k}::DOUBLE AS orders, monetary_{k} AS monetary,
           date_diff('day', first_day_{k}, {c})::DOUBLE AS tenure_days,
           coalesce(own_gap, typical.gap)::DOUBLE AS mean_gap_days,
           CASE WHEN coalesce(own_gap, typical.gap) IS NOT NULL  -- else no repeat buyers
                THEN round(greatest(0, date_diff('day', last_day_{k}, {c})
                     - coalesce(own_gap, typical.gap)), 1) END::DOUBLE AS days_overdue,
           orders_90d_{k}::DOUBLE AS orders_90d, orders_365d_{k}::DOUBLE AS orders_365d,
           (order_days_{k} = 1)::DOUBLE AS one_time{churned}
    FROM g, typical ORDER BY customer_id"""


def features_sql(cutoff: dt.date, horizon_days: int | None = None) -> str:
    """One row per buyer with purchases before ``cutoff``: the model's inputs, and, given a
    horizon, ``churned``."""
    labelled = horizon_days is not None
    history = f"({history_sql([cutoff], horizon_days or 0, int(labelled))})"
    return cut_sql(history, 0, cutoff, labelled)


@dataclass(frozen=True)
class Split:
    ids: np.ndarray  # customer ids, rising (as the query sorts them)
    x: np.ndarray
    y: np.ndarray | None  # None when scoring


def _unnamed(s: Split) -> Split:
    """The split without its ids, for the fits (at 5M orders the three splits' 680,000 ids
    took 0.4 s to pickle and unpickle)."""
    return replace(s, ids=np.empty(0, dtype=object))


def split(con: Connection, cutoff: dt.date, horizon_days: int | None) -> Split:
    """Features (and labels, given a horizon) as of ``cutoff``, sorted by customer_id."""
    return _fetch(con, features_sql(cutoff, horizon_days), horizon_days is not None)


def splits(con: Connection, cutoffs: list[dt.date], horizon_days: int) -> list[Split]:
    """``split`` at each cut-off from one scan of the orders, labelled but the last."""
    history, labelled = "churn_history", len(cutoffs) - 1
    con.execute(f"CREATE OR REPLACE TEMP TABLE {history} AS "
                f"{history_sql(cutoffs, horizon_days, labelled)}")
    try:
        return [_fetch(con, cut_sql(history, k, c, k < labelled), k < labelled)
                for k, c in enumerate(cutoffs)]
    finally:
        con.execute(f"DROP TABLE {history}")


def _fetch(con: Connection, sql: str, labelled: bool) -> Split:
    data = con.execute(sql).fetchnumpy()
    # fetchnumpy masks NULLs; filled() makes them NaN rather than the mask's fill value.
    x: np.ndarray = np.column_stack([np.ma.asarray(data[c], dtype=float).filled(np.nan)
                         for c in MODEL_FEATURES])
    y = np.asarray(data["churned"], dtype=int) if labelled else None
    return Split(np.asarray(data["customer_id"]), x.reshape(-1, len(MODEL_FEATURES)), y)


def new_model() -> Any:
    """Logistic regression: the scorecard model credit risk and churn teams have long trusted.

    Fitted by maximum likelihood, its probabilities are calibrated in the large (they average to
    the observed churn rate on the training split) and are monotone in few, readable
    coefficients. Boosted trees may rank a little better but need a separate calibration step
    and more data; a marketer acting on "70% likely to lapse" needs the 70% to hold. Inputs are
    log1p-transformed (counts, days and money are long-tailed) and standardised; lbfgs is
    deterministic, and random_state is fixed anyway.
    """
    # scikit-learn (and scipy under it) takes seconds to import: only a fit pays for it
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return make_pipeline(FunctionTransformer(_log1p), StandardScaler(),
                         LogisticRegression(C=1.0, max_iter=1000, random_state=0))


def _log1p(x: np.ndarray) -> np.ndarray:
    # A gap is unknown only when no buyer has two order days; 0 then carries no signal.
    return np.asarray(np.log1p(np.nan_to_num(x, nan=0.0)))


def _missing_class(name: str, s: Split, cutoff: dt.date,
                   horizon_days: int) -> ModelReason | None:
    assert s.y is not None
    churned = int(s.y.sum())
    stayed = len(s.y) - churned
    if min(churned, stayed) >= MIN_PER_CLASS:
        return None
    if len(s.y) < 2 * MIN_PER_CLASS:
        return ModelReason("history_too_short", {"buyers": len(s.y), "split": name,
                                                 "cutoff": cutoff, "horizon": horizon_days})
    return ModelReason("one_class", {"split": name, "cutoff": cutoff, "churned": churned,
                                     "stayed": stayed, "horizon": horizon_days,
                                     "needed": MIN_PER_CLASS})


def precision_top_decile(y: np.ndarray, p: np.ndarray) -> float:
    """Share of churners among the highest-risk tenth, ties broken by position: a split's
    rows are sorted by customer_id, so by customer_id."""
    order = np.lexsort((np.arange(len(p)), -p))
    top = order[: max(1, math.ceil(len(p) / 10))]
    return float(y[top].mean())


def reliability(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    """Mean predicted vs observed churn in equal-width probability bins (non-empty ones)."""
    edges = np.arange(RELIABILITY_BINS + 1) / RELIABILITY_BINS  # 0.6 exactly, not 0.6000..1
    which = np.clip(np.digitize(p, edges[1:-1]), 0, RELIABILITY_BINS - 1)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]),
             "customers": int((which == b).sum()),
             "mean_predicted": round(float(p[which == b].mean()), 4),
             "observed": round(float(y[which == b].mean()), 4)}
            for b in range(RELIABILITY_BINS) if (which == b).any()]


def fit_churn(con: Connection, as_of: dt.date, horizon_days: int) -> ChurnModel:
    """Check on the later split, refit on it, and create ``customer_churn`` as of ``as_of``.
    The splits are queried here, the fits run where ``model_worker.run`` sends them."""
    n = dt.timedelta(days=horizon_days)
    train_at, check_at = as_of - 2 * n, as_of - n
    train, check, now = splits(con, [train_at, check_at, as_of], horizon_days)
    base = ChurnModel(horizon_days=horizon_days, train_cutoff=train_at.isoformat(),
                      check_cutoff=check_at.isoformat(), train_customers=len(train.ids),
                      check_customers=len(check.ids))
    # The fits read no customer ids: the worker is sent the splits without them.
    figures, risk = model_worker.run(score_churn, _unnamed(train), _unnamed(check),
                                     _unnamed(now), (train_at, check_at), horizon_days)
    _store(con, now, risk)
    return replace(base, **figures)


def score_churn(train: Split, check: Split, now: Split, cutoffs: tuple[dt.date, dt.date],
                horizon_days: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """``fit_churn``'s numbers from its splits, whose ids are not read (``cutoffs``: the
    training and check splits'):
    the check's figures, or why there are none, and the risk as of now rounded to 6 places
    (None without a model)."""
    reason = (_missing_class("training", train, cutoffs[0], horizon_days)
              or _missing_class("check", check, cutoffs[1], horizon_days))
    if reason:
        return {"reason": str(reason), "reason_code": reason}, None
    assert train.y is not None and check.y is not None
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from crmreport.clv import one_blas_thread

    # BLAS on one thread: its threads wait for cores more than they compute on these thin
    # matrices (a 200,000-customer plan: 5.75 s in this stage with them, 2.83 s without).
    with one_blas_thread():
        p = new_model().fit(train.x, train.y).predict_proba(check.x)[:, 1]
        risk = new_model().fit(check.x, check.y).predict_proba(now.x)[:, 1]
    return {"check_churn_rate": round(float(check.y.mean()), 4),
            "auc": round(float(roc_auc_score(check.y, p)), 4),
            "precision_top_decile": round(precision_top_decile(check.y, p), 4),
            "brier": round(float(brier_score_loss(check.y, p)), 4),
            "reliability": reliability(check.y, p), "scored": len(now.x),
            "bands": _bands(risk)}, np.round(risk, 6)


def skip_churn(con: Connection, as_of: dt.date) -> ChurnModel:
    """``customer_churn`` with days_overdue but no churn_risk: no model is fitted."""
    _store(con, split(con, as_of, None), None)
    return ChurnModel(reason="not fitted")


def _bands(risk: np.ndarray) -> list[dict[str, float]]:
    highs = [*RISK_BANDS[1:], 1.0]
    return [{"low": lo, "high": hi,
             "customers": int(((risk >= lo) & ((risk < hi) | (hi == 1.0))).sum())}
            for lo, hi in zip(RISK_BANDS, highs, strict=True)]


def _store(con: Connection, now: Split, risk: np.ndarray | None) -> None:
    overdue = now.x[:, MODEL_FEATURES.index("days_overdue")]
    arrays = {"customer_id": pa.array(now.ids, pa.string()),
              "days_overdue": pa.array(overdue, pa.float64(), from_pandas=True),  # NaN: NULL
              "churn_risk": pa.array(risk if risk is not None else [None] * len(now.ids),
                                     pa.float64())}
    con.register("churn_arrow", pa.table(arrays))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CUSTOMER_CHURN} AS SELECT * FROM churn_arrow")
    con.unregister("churn_arrow")


def with_btyd(churn: ChurnModel, value: ValueModel, con: Connection, table: str) -> ChurnModel:
    """Add whether the purchase model sees any dropout: its own verdict (``value.note``), its
    mean dropout chance per purchase a / (a + b) where it has one (BG/NBD, MBG/NBD), and how
    many customers in ``table`` it gives P(alive) < 0.5."""
    if not value.available:
        return churn
    a, b = value.bgnbd.get("a"), value.bgnbd.get("b")
    per_purchase = a / (a + b) if a is not None and b is not None else None
    row = con.execute(f"SELECT count(*) FILTER (WHERE p_alive < 0.5) FROM {table}").fetchone()
    below = int(row[0]) if row else 0
    none_seen = (value.note is not None or below == 0
                 or (per_purchase is not None and per_purchase < 0.01))
    return replace(churn, btyd_dropout_per_purchase=per_purchase, btyd_below_half=below,
                   btyd_no_dropout=none_seen)
