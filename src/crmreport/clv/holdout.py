"""Calibration/holdout validation: fit on one period, check predictions on the next."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crmreport.clv.bgnbd import BGNBD
from crmreport.clv.summary import daily_purchases, day_number, summarise_daily, unit_length
from crmreport.errors import DataError


def calibration_holdout(
    df: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    calibration_end: Any,
    holdout_end: Any,
    unit: str = "W",
    calibration_start: Any = None,
) -> pd.DataFrame:
    """Split transactions at `calibration_end` and summarise both periods.

    Both ends are exclusive, like `summarise_transactions`' as_of: the calibration period is
    the days before `calibration_end`, the holdout the days from it to before `holdout_end`.

    Returns one row per customer who bought in the calibration period (later first-time
    buyers are left out: the model knows nothing of them), indexed by customer id, with the
    calibration summary (frequency, recency, T, monetary, as `summarise_transactions`) and
    frequency_holdout (purchase days in [calibration_end, holdout_end), all of them repeat
    purchases), monetary_holdout (their mean day-level value, 0 if none) and
    duration_holdout (the holdout length in `unit`).
    """
    unit_days = unit_length(unit)
    cal_end, hold_end = day_number(calibration_end), day_number(holdout_end)
    if hold_end <= cal_end:
        raise DataError("holdout_end must be after calibration_end")
    daily = daily_purchases(df, customer_col, date_col, amount_col)
    in_cal = daily["day"] < cal_end
    if calibration_start is not None:
        in_cal &= daily["day"] >= day_number(calibration_start)
    table = summarise_daily(daily[in_cal], cal_end - 1, unit_days)
    later = daily[(daily["day"] >= cal_end) & (daily["day"] < hold_end)]
    later = later[later["customer"].isin(table.index)]
    counts = later.groupby("customer")["amount"].agg(["size", "mean"])
    table["frequency_holdout"] = counts["size"].reindex(table.index, fill_value=0).astype("int64")
    table["monetary_holdout"] = counts["mean"].reindex(table.index, fill_value=0.0)
    table["duration_holdout"] = (hold_end - cal_end) / unit_days
    return table.rename_axis(customer_col)


def holdout_fit_by_frequency(
    model: BGNBD, cal_holdout: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases per calibration frequency (0, 1, ..., 7+).

    `cal_holdout` is the output of `calibration_holdout`. Rows are labelled "0" to
    f"{max_frequency}+"; columns customers, actual and predicted (means per customer), the
    data of the conditional-expectation chart of Fader, Hardie and Lee (2005, figure 4).
    """
    predicted = model.conditional_expected_purchases(
        cal_holdout["duration_holdout"].to_numpy(),
        cal_holdout["frequency"].to_numpy(),
        cal_holdout["recency"].to_numpy(),
        cal_holdout["T"].to_numpy(),
    )
    capped = np.minimum(cal_holdout["frequency"].to_numpy(), max_frequency)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    frame = pd.DataFrame(
        {
            "calibration_frequency": pd.Categorical(
                np.array(labels)[capped.astype(int)], categories=labels, ordered=True
            ),
            "actual": cal_holdout["frequency_holdout"].to_numpy(dtype=float),
            "predicted": predicted,
        }
    )
    grouped = frame.groupby("calibration_frequency", observed=False)
    out = grouped.agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
    )
    return out
