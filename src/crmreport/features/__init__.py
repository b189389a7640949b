"""Differentiate: one row of features per customer, as of an explicit date.

``features`` = RFM and history columns (rfm.py) + model-based value (value.py); alongside,
``co_purchase`` holds category affinity for cross-selling (affinity.py).
"""

from __future__ import annotations

import datetime as dt

from crmreport.engine import Connection
from crmreport.features.affinity import build_co_purchase
from crmreport.features.rfm import FEATURE_DOCS as RFM_DOCS
from crmreport.features.rfm import build_rfm
from crmreport.features.value import VALUE_COLUMNS, ValueModel, build_value

FEATURE_DOCS: dict[str, str] = {**RFM_DOCS, **VALUE_COLUMNS}

__all__ = ["FEATURE_DOCS", "ValueModel", "build_features"]


def build_features(con: Connection, as_of: dt.date) -> ValueModel:
    """Create ``features`` and ``co_purchase``; return the value model (or why there is none)."""
    build_rfm(con, as_of)
    value = build_value(con, as_of)
    build_co_purchase(con, as_of)
    columns = ", ".join(f"v.{c}" for c in VALUE_COLUMNS)
    con.execute(f"""CREATE OR REPLACE TABLE features AS
        SELECT r.*, {columns} FROM rfm r LEFT JOIN customer_value v USING (customer_id)
        ORDER BY customer_id""")
    con.execute("DROP TABLE rfm")
    return value
