"""Differentiate: one row of features per customer, as of an explicit date.

``features`` = RFM and history columns (rfm.py) + model-based value (value_models.py); alongside,
``co_purchase`` holds category affinity for cross-selling (affinity.py).
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection
from crmreport.features.affinity import compute_co_purchase
from crmreport.features.rfm import FEATURE_DOCS as RFM_DOCS
from crmreport.features.rfm import compute_rfm
from crmreport.features.value_models import VALUE_COLUMNS, ValueModel, fit_value_models

FEATURE_DOCS: dict[str, str] = {**RFM_DOCS, **VALUE_COLUMNS}

__all__ = ["FEATURE_DOCS", "ValueModel", "compute_features"]


def compute_features(con: Connection, as_of: dt.date, value_model: str = "bgnbd") -> ValueModel:
    """Create ``features`` and ``co_purchase``; return the value model (or why there is none)."""
    compute_rfm(con, as_of)
    value = fit_value_models(con, as_of, value_model)
    compute_co_purchase(con, as_of)
    columns = ", ".join(f"v.{c}" for c in VALUE_COLUMNS)
    con.execute(f"""CREATE OR REPLACE TABLE features AS
        SELECT r.*, {columns} FROM rfm r LEFT JOIN customer_value v USING (customer_id)
        ORDER BY customer_id""")
    con.execute("DROP TABLE rfm")
    return value
