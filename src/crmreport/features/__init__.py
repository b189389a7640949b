"""Differentiate: one row of features per customer, as of an explicit date.

``net_orders`` classifies every order once under the net-revenue rule (net_orders.py); its
macros ``purchases(day)`` and ``net_revenue(day)`` are what every later count reads.
``features`` = RFM and history columns (rfm.py) + model-based value (value_models.py) + churn
risk from a classifier on the shop's own history and days overdue (churn.py); alongside,
``co_purchase`` holds category affinity for cross-selling, and ``next_category`` each
customer's suggestion from it (affinity.py). Both are declared in
``crmreport.tables``; the working tables they are built from (``rfm``, ``category_spend``,
``customer_value``, ``customer_churn``) are temporary and dropped here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from crmreport.engine import Connection
from crmreport.features.affinity import (
    NEXT_CATEGORY,
    compute_co_purchase,
    compute_next_category,
)
from crmreport.features.churn import (
    CHURN_COLUMNS,
    CUSTOMER_CHURN,
    DEFAULT_HORIZON_DAYS,
    ChurnModel,
    fit_churn,
    skip_churn,
    with_btyd,
)
from crmreport.features.net_orders import classify_orders
from crmreport.features.rfm import CATEGORY_SPEND, RFM, compute_rfm
from crmreport.features.rfm import FEATURE_DOCS as RFM_DOCS
from crmreport.features.value_models import (
    CUSTOMER_VALUE,
    MODEL_INPUTS,
    VALUE_COLUMNS,
    ValueModel,
    fitting_value_models,
    skip_value_models,
)
from crmreport.progress import stage
from crmreport.tables import CO_PURCHASE, FEATURES, NET_ORDERS, Table

FEATURE_DOCS: dict[str, str] = {
    **RFM_DOCS, **MODEL_INPUTS, **VALUE_COLUMNS, **CHURN_COLUMNS,
    "next_category": "the cross-sell suggestion: the category most bought with theirs (by "
                     "lift) that they never bought; NULL if none",
}

__all__ = ["FEATURE_DOCS", "MODEL_COLUMNS", "RFM_COLUMNS", "ChurnModel", "Featured",
           "ValueModel", "compute_features"]

# The feature columns a fitted model gives (compute_features(fit_models=False) leaves NULL).
MODEL_COLUMNS = frozenset([*VALUE_COLUMNS, "churn_risk"])


@dataclass(frozen=True)
class Featured:
    """What features made: the value and churn models (or why there are none), and its
    tables."""

    value: ValueModel
    tables: tuple[Table, ...]
    churn: ChurnModel = field(default_factory=lambda: ChurnModel(reason="not computed"))


def compute_features(con: Connection, as_of: dt.date,
                     churn_horizon_days: int = DEFAULT_HORIZON_DAYS,
                     value_model: str = "bgnbd", *, fit_models: bool = True,
                     models_ready: Callable[[], None] = lambda: None,
                     holdout_chart: bool = False) -> Featured:
    """Create ``net_orders`` (with its macros), ``features`` and ``co_purchase``;
    ``value_model`` is the purchase model (see ``value_models.fit_value_models``, and there
    ``holdout_chart``, which a report sets).
    ``fit_models=False`` leaves the value columns and churn_risk NULL, for rules without them.
    ``models_ready`` is waited for before the models are fitted (their libraries imported)."""
    with stage("features"):
        classify_orders(con)
        compute_rfm(con, as_of)
        compute_co_purchase(con)
        compute_next_category(con)
    if fit_models:
        models_ready()
        with stage("value models"), fitting_value_models(
                con, as_of, value_model, holdout_chart=holdout_chart) as value_fitted:
            churn = fit_churn(con, as_of, churn_horizon_days)  # queried while those fit
            value = value_fitted()
    else:
        value, churn = skip_value_models(con, as_of), skip_churn(con, as_of)
    con.execute(f"""CREATE OR REPLACE TABLE {FEATURES} AS
        SELECT {", ".join(_source(c) for c in FEATURES.columns)} FROM {RFM} r
        LEFT JOIN {CUSTOMER_VALUE} v USING (customer_id)
        LEFT JOIN {CUSTOMER_CHURN} c USING (customer_id)
        LEFT JOIN {NEXT_CATEGORY} n USING (customer_id)
        ORDER BY customer_id""")
    for working in (RFM, CATEGORY_SPEND, CUSTOMER_VALUE, CUSTOMER_CHURN, NEXT_CATEGORY):
        con.execute(f"DROP TABLE {working}")
    return Featured(value, (NET_ORDERS, FEATURES, CO_PURCHASE),
                    with_btyd(churn, value, con, FEATURES.name))


def _source(column: str) -> str:
    """The working table a feature column comes from, as its alias."""
    if column == "repeat_purchase_days":  # the value models' frequency; 0 without purchases
        return "coalesce(v.repeat_purchase_days, 0)::INTEGER AS repeat_purchase_days"
    if column in CHURN_COLUMNS:
        return f"c.{column}"
    if column == "next_category":
        return "n.next_category"
    return f"v.{column}" if column in VALUE_COLUMNS else f"r.{column}"


# The feature columns the rfm working table holds as features has them.
RFM_COLUMNS = frozenset(c for c in FEATURES.columns if _source(c) == f"r.{c}")
