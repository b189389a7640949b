"""Calibration/holdout validation: fit on one period, check predictions on the next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from crmreport.clv.summary import daily_purchases, day_number, summarise_daily, unit_length
from crmreport.errors import DataError

if TYPE_CHECKING:  # the verdict's types load without the models (and scipy.optimize)
    from crmreport.clv.base import PurchaseModel


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
    model: PurchaseModel, cal_holdout: pd.DataFrame, max_frequency: int = 7
) -> pd.DataFrame:
    """Mean actual vs predicted holdout purchases per calibration frequency (0, 1, ..., 7+).

    `cal_holdout` is the output of `calibration_holdout`. Rows are labelled "0" to
    f"{max_frequency}+"; columns customers, actual and predicted (means per customer), the
    data of the conditional-expectation chart of Fader, Hardie and Lee (2005, figure 4).
    """
    predicted = holdout_predictions(model, cal_holdout)
    capped = np.minimum(cal_holdout["frequency"].to_numpy(), max_frequency)
    labels = _labels(max_frequency)
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


# A holdout total off by more than this (in percent of the actual total) earns a warning.
WARN_PERCENT = 10.0


@dataclass(frozen=True)
class BucketVerdict:
    """Holdout repeat purchases of the customers with one calibration frequency (or 7+)."""

    frequency: str
    customers: int
    actual: float
    predicted: float
    error_percent: float | None  # None when the bucket's actual total is 0


@dataclass(frozen=True)
class HoldoutVerdict:
    """How a purchase model's predictions compare with what happened in the holdout period.

    actual and predicted are total repeat purchases of the calibration customers in the
    holdout; error_percent = 100 (predicted - actual) / actual (None if actual = 0);
    mean_squared_error is per customer; bucket_chi_square = sum over frequency buckets of
    (predicted - actual)^2 / max(actual, 1), the misfit of the conditional-expectation chart
    with each bucket scaled by its Poisson variance; warning is
    |error_percent| > threshold_percent (or purchases predicted where there were none);
    text says it in one English sentence.
    """

    model: str
    customers: int
    actual: float
    predicted: float
    error_percent: float | None
    mean_squared_error: float
    bucket_chi_square: float
    by_frequency: tuple[BucketVerdict, ...]
    warning: bool
    threshold_percent: float
    text: str


def holdout_predictions(model: PurchaseModel, cal_holdout: pd.DataFrame) -> np.ndarray:
    """Each calibration customer's expected purchases over their holdout duration."""
    return model.conditional_expected_purchases(
        cal_holdout["duration_holdout"].to_numpy(dtype=float),
        cal_holdout["frequency"].to_numpy(dtype=float),
        cal_holdout["recency"].to_numpy(dtype=float),
        cal_holdout["T"].to_numpy(dtype=float),
    )


def holdout_verdict(
    model: PurchaseModel, cal_holdout: pd.DataFrame, threshold_percent: float = WARN_PERCENT
) -> HoldoutVerdict:
    """The verdict of a fitted model on `calibration_holdout`'s table (see HoldoutVerdict)."""
    return verdict(
        model.name,
        cal_holdout["frequency"].to_numpy(),
        cal_holdout["frequency_holdout"].to_numpy(),
        holdout_predictions(model, cal_holdout),
        threshold_percent,
    )


def verdict(
    model: str,
    frequency: ArrayLike,
    actual: ArrayLike,
    predicted: ArrayLike,
    threshold_percent: float = WARN_PERCENT,
    max_frequency: int = 7,
) -> HoldoutVerdict:
    """The verdict from per-customer calibration frequency, actual and predicted holdout
    purchases."""
    x = np.asarray(frequency, dtype=float)
    act = np.asarray(actual, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    if not x.size == act.size == pred.size:
        raise ValueError("frequency, actual and predicted must have the same length")
    if not np.isfinite(pred).all():
        raise DataError(f"{model} predicts no finite holdout purchases for some customers")
    bucket = np.minimum(x, max_frequency).astype(int)
    buckets = tuple(
        BucketVerdict(
            frequency=label,
            customers=int((bucket == i).sum()),
            actual=float(act[bucket == i].sum()),
            predicted=float(pred[bucket == i].sum()),
            error_percent=_error(float(act[bucket == i].sum()), float(pred[bucket == i].sum())),
        )
        for i, label in enumerate(_labels(max_frequency))
    )
    total_actual, total_predicted = float(act.sum()), float(pred.sum())
    error = _error(total_actual, total_predicted)
    warning = total_predicted >= 0.5 if error is None else abs(error) > threshold_percent
    return HoldoutVerdict(
        model=model,
        customers=int(x.size),
        actual=total_actual,
        predicted=total_predicted,
        error_percent=error,
        mean_squared_error=float(np.mean((pred - act) ** 2)) if x.size else 0.0,
        bucket_chi_square=float(sum((b.predicted - b.actual) ** 2 / max(b.actual, 1.0)
                                    for b in buckets)),
        by_frequency=buckets,
        warning=warning,
        threshold_percent=threshold_percent,
        text=_text(model, total_actual, total_predicted, error, warning, threshold_percent),
    )


def _error(actual: float, predicted: float) -> float | None:
    return None if actual == 0 else 100.0 * (predicted - actual) / actual


def _text(
    model: str, actual: float, predicted: float, error: float | None, warning: bool,
    threshold: float,
) -> str:
    counts = f"{predicted:,.1f} predicted against {actual:,.0f} actual"
    if error is None:
        return (f"{model} predicts {predicted:,.1f} repeat purchases in the holdout period, "
                "which had none.")
    side = "within" if not warning else "beyond"
    if round(error, 1) == 0:
        how = "matches the holdout period's repeat purchases to within 0.1%"
    else:
        verb = "over-predicts" if error > 0 else "under-predicts"
        how = f"{verb} the holdout period's repeat purchases by {abs(error):.1f}%"
    return f"{model} {how} ({counts}), {side} the {threshold:g}% warning threshold."


def _labels(max_frequency: int) -> list[str]:
    return [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
