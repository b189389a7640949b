"""Turn a transaction log into the per-customer (frequency, recency, T, monetary) table.

Definitions (those of Fader, Hardie and Lee, which reproduce their CDNOW results):

- purchases on the same day are merged into one (day-level totals): the models count
  purchase occasions, and a second basket on the same day is not a new occasion;
- frequency = number of purchase days after the first one (repeat purchases);
- recency = last purchase day - first purchase day; T = as_of - first purchase day;
- monetary = mean day-level value of the REPEAT purchases (the first purchase is left out,
  as the Gamma-Gamma model is fitted on repeat spend); 0 when frequency = 0;
- times are in `unit`: "D" days or "W" weeks of exactly 7 days (there are no months, whose
  length varies);
- every row is taken as a purchase: the log has no order ids to match credit notes with the
  orders they reverse, so pass purchases with fully reversed orders removed (the campaign's
  ``net_orders`` does this, see features/net_orders.py);
- as_of is exclusive, as in a campaign: purchases before that day count, the day before it is
  the last observed day (T runs to it), and a purchase on the as-of day is not seen yet. The
  39-week CDNOW calibration from 1997-01-01 is as_of="1997-10-01".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crmreport.errors import DataError

UNIT_DAYS = {"D": 1, "W": 7}


def summarise_transactions(
    df: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    as_of: Any,
    unit: str = "W",
    calibration_start: Any = None,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary from transactions before `as_of`.

    Returns a frame indexed by customer id (sorted) with columns frequency (int), recency, T,
    monetary (float). Purchases on or after `as_of` are ignored, and so are purchases before
    `calibration_start` if given: a customer's first purchase is then their first one in the
    window, so pass a start only for a cohort that began buying inside it.
    """
    unit_days = unit_length(unit)
    daily = daily_purchases(df, customer_col, date_col, amount_col)
    end = day_number(as_of)
    start = None if calibration_start is None else day_number(calibration_start)
    window = daily["day"] < end
    if start is not None:
        window &= daily["day"] >= start
    return summarise_daily(daily[window], end - 1, unit_days).rename_axis(customer_col)


def unit_length(unit: str) -> int:
    """Length of a time unit in days; only units of fixed length are accepted."""
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be 'D' (days) or 'W' (weeks of 7 days), got {unit!r}")
    return UNIT_DAYS[unit]


def day_number(value: Any) -> int:
    """Days since 1970-01-01 of a date-like value (the day it falls on)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.date(), "D").astype(np.int64))


def daily_purchases(
    df: pd.DataFrame, customer_col: str, date_col: str, amount_col: str
) -> pd.DataFrame:
    """Validated day-level purchases: one row per customer and day, amounts summed.

    Columns customer, day (days since 1970-01-01), amount; sorted by customer and day.
    """
    missing = [c for c in (customer_col, date_col, amount_col) if c not in df.columns]
    if missing:
        raise DataError(f"transactions lack column(s) {missing}; available: {list(df.columns)}")
    customers = df[customer_col]
    if customers.isna().any():
        raise DataError(
            f"{int(customers.isna().sum())} transaction(s) have no {customer_col!r} (guest "
            "checkouts?); filter them out first: they belong to no customer"
        )
    days = _days(df[date_col], date_col)
    amounts = pd.to_numeric(df[amount_col], errors="coerce").astype("float64")
    if amounts.isna().any():
        raise DataError(f"{int(amounts.isna().sum())} transaction(s) have no valid {amount_col!r}")
    frame = pd.DataFrame({"customer": customers.to_numpy(), "day": days, "amount": amounts})
    grouped = frame.groupby(["customer", "day"], sort=True)["amount"].sum()
    return grouped.reset_index()


def summarise_daily(daily: pd.DataFrame, end_day: int, unit_days: int) -> pd.DataFrame:
    """The summary table from sorted day-level purchases (see `daily_purchases`); `end_day`
    is the last observed day."""
    groups = daily.groupby("customer", sort=True)
    first = groups["day"].first()
    days = groups.size()
    repeat_total = groups["amount"].sum() - groups["amount"].first()
    frequency = (days - 1).astype("int64")
    monetary = (repeat_total / frequency.where(frequency > 0)).fillna(0.0)
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (groups["day"].last() - first) / unit_days,
            "T": (end_day - first) / unit_days,
            "monetary": monetary.astype("float64"),
        }
    )


def _days(dates: pd.Series, name: str) -> np.ndarray:
    parsed = pd.to_datetime(dates, errors="coerce")
    if parsed.isna().any():
        raise DataError(f"{int(parsed.isna().sum())} transaction(s) have no valid date in {name!r}")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)  # keep the local calendar day
    return parsed.to_numpy().astype("datetime64[D]").astype(np.int64)
