"""The current campaign's segmentation, summarised per segment."""

from __future__ import annotations

import pandas as pd

from crmreport.engine import Connection
from crmreport.tables import ASSIGNMENTS

NO_OFFER = "(none)"
OFFER_PREFIX = "offer:"

_SQL = f"""
SELECT segment, count(*) AS customers, count(recency_days) AS buyers,
       sum(recency_days) AS recency_sum, sum(repeat_orders) AS frequency_sum,
       CAST(sum(monetary) AS DOUBLE) AS total_monetary
FROM {ASSIGNMENTS} GROUP BY segment ORDER BY segment
"""

_OFFERS = f"""
SELECT segment, coalesce(offer, '{NO_OFFER}') AS offer, count(*) AS n
FROM {ASSIGNMENTS} GROUP BY ALL ORDER BY ALL
"""


def segment_overview(con: Connection) -> pd.DataFrame:
    """Per segment: customers, share, avg recency, avg repeat orders (``avg_frequency``), avg
    and total monetary, and one ``offer:<id>`` count column per offer (``offer:(none)`` for
    customers without one)."""
    frame = con.execute(_SQL).df()
    customers = frame["customers"].astype(int)
    # Sums are exact in SQL; dividing here keeps the averages independent of thread order.
    out = pd.DataFrame({
        "segment": frame["segment"],
        "customers": customers,
        "share": customers / max(int(customers.sum()), 1),
        # recency exists only for customers who bought; prospects must not dilute it
        "buyers": frame["buyers"].astype(int),
        "avg_recency_days": frame["recency_sum"].astype(float) / frame["buyers"].where(
            frame["buyers"] > 0),
        "avg_frequency": frame["frequency_sum"].astype(float) / customers,
        "avg_monetary": frame["total_monetary"] / customers,
        "total_monetary": frame["total_monetary"],
    })
    offers = con.execute(_OFFERS).df()
    wide = offers.pivot(index="segment", columns="offer", values="n").fillna(0).astype(int)
    wide = wide[sorted(wide.columns, key=lambda o: (o == NO_OFFER, o))]
    wide.columns = [OFFER_PREFIX + str(c) for c in wide.columns]
    return out.merge(wide, left_on="segment", right_index=True, how="left").reset_index(
        drop=True
    )
