"""Differentiate: one row of features per customer, as of an explicit date.

``net_orders`` classifies every order once under the net-revenue rule (net_orders.py); its
macros ``purchases(day)`` and ``net_revenue(day)`` are what every later count reads.
``features`` = RFM and history columns (rfm.py) + model-based value (value_models.py); alongside,
``co_purchase`` holds category affinity for cross-selling (affinity.py). Both are declared in
``crmreport.tables``; the working tables they are built from (``rfm``, ``customer_value``)
are temporary and dropped here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from crmreport.engine import Connection
from crmreport.features.affinity import compute_co_purchase
from crmreport.features.net_orders import classify_orders
from crmreport.features.rfm import FEATURE_DOCS as RFM_DOCS
from crmreport.features.rfm import RFM, compute_rfm
from crmreport.features.value_models import (
    CUSTOMER_VALUE,
    MODEL_INPUTS,
    VALUE_COLUMNS,
    ValueModel,
    fit_value_models,
    summary_sql,
)
from crmreport.tables import CO_PURCHASE, FEATURES, NET_ORDERS, Table

FEATURE_DOCS: dict[str, str] = {**RFM_DOCS, **MODEL_INPUTS, **VALUE_COLUMNS}

__all__ = ["FEATURE_DOCS", "Featured", "ValueModel", "compute_features"]


@dataclass(frozen=True)
class Featured:
    """What features made: the value model (or why there is none), and its tables."""

    value: ValueModel
    tables: tuple[Table, ...]


def compute_features(con: Connection, as_of: dt.date) -> Featured:
    """Create ``net_orders`` (with its macros), ``features`` and ``co_purchase``."""
    classify_orders(con)
    compute_rfm(con, as_of)
    value = fit_value_models(con, as_of)
    compute_co_purchase(con, as_of)
    columns = ", ".join(f"v.{c}" for c in VALUE_COLUMNS)
    summary = summary_sql(f"DATE '{as_of.isoformat()}'")
    con.execute(f"""CREATE OR REPLACE TABLE {FEATURES} AS
        SELECT r.*, coalesce(s.repeat_purchase_days, 0)::INTEGER AS repeat_purchase_days,
               {columns}
        FROM {RFM} r LEFT JOIN ({summary}) s USING (customer_id)
        LEFT JOIN {CUSTOMER_VALUE} v USING (customer_id)
        ORDER BY customer_id""")
    con.execute(f"DROP TABLE {RFM}")
    con.execute(f"DROP TABLE {CUSTOMER_VALUE}")
    return Featured(value, (NET_ORDERS, FEATURES, CO_PURCHASE))
