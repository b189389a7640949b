"""Discounted customer lifetime value from a purchase model (BG/NBD, MBG/NBD, Pareto/NBD) and
a Gamma-Gamma model."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from crmreport.clv._fit import FloatArray, as_float, unique_rows
from crmreport.clv.base import PurchaseModel
from crmreport.clv.bgnbd import _validated
from crmreport.clv.gammagamma import GammaGamma


def clv(
    bgnbd: PurchaseModel,
    gammagamma: GammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    horizon: float,
    discount_rate: float,
    step: float = 1,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next `horizon`.

    Time is in the unit the data were summarised in (weeks for unit="W"), and
    `discount_rate` is per that unit: a yearly 10% is (1.10 ** (1 / 52)) - 1 per week.
    CLV = sum over t_i = step, 2*step, ..., horizon of
    (E[Y(t_i)] - E[Y(t_(i-1))]) * E[spend] / (1 + discount_rate) ** t_i,
    with E[Y] the conditional expected purchases of `bgnbd` (any PurchaseModel: BG/NBD,
    MBG/NBD or Pareto/NBD) and E[spend] the Gamma-Gamma
    conditional mean spend. The result is finite and never negative.
    """
    if not (horizon > 0 and step > 0):
        raise ValueError("horizon and step must be positive")
    if not discount_rate > -1:
        raise ValueError("discount_rate must be > -1")
    x, tx, t_end = _validated(frequency, recency, T)
    spend = gammagamma.conditional_expected_spend(x, monetary)
    times = _grid(float(horizon), float(step))
    factor = _discounted_purchases(bgnbd, x, t_end, times, float(discount_rate))
    value = bgnbd.probability_alive(x, tx, t_end) * factor * spend
    return np.asarray(np.maximum(value, 0.0), dtype=np.float64)


def _grid(horizon: float, step: float) -> FloatArray:
    """step, 2*step, ... up to horizon, with horizon itself as the last point."""
    times = step * np.arange(1, int(np.floor(horizon / step + 1e-9)) + 1, dtype=np.float64)
    if times.size == 0 or times[-1] < horizon - 1e-9 * horizon:
        times = np.append(times, horizon)
    return times


def _discounted_purchases(
    bgnbd: PurchaseModel, x: FloatArray, t_end: FloatArray, times: FloatArray, rate: float
) -> FloatArray:
    """Discounted expected purchases of a customer alive at T, per customer.

    This depends on (x, T) only, so it is computed once per distinct pair: day-level data
    have few of them even for millions of customers.
    """
    (px, pt), inverse = unique_rows((x, t_end))
    total = np.zeros(px.size)
    previous = np.zeros(px.size)
    for t in times:
        current = bgnbd.alive_expectation(px, pt, np.full(px.size, t))
        # Cumulative expectations rise with t; clip tiny negative rounding steps.
        total += np.maximum(current - previous, 0.0) / (1.0 + rate) ** t
        previous = np.maximum(current, previous)
    return as_float(total, "CLV")[inverse]
