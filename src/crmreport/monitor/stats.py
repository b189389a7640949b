"""The statistics of campaign results, as small pure functions over counts and arrays.

- Proportions: the difference of two response rates with Newcombe's hybrid score interval
  (:func:`crmreport.monitor.response.uplift`), and the pooled two-proportion z-test.
- Money: the difference of two mean revenues per customer with Welch's t interval (unequal
  variances, Welch-Satterthwaite degrees of freedom). Revenue per customer is skewed (most
  customers spend 0), but it is a mean over dozens to thousands of customers, for which the
  t interval is close to right; it is exact to recompute, needs no seed and matches
  ``scipy.stats.ttest_ind(equal_var=False)``. With a control group of a few dozen customers
  its coverage can fall short of 95%; the report says so beside the figures.
- CUPED: Y' = Y - theta * (X - mean X) with theta = cov(Y, X) / var(X) over treated and
  control together, X = the customer's revenue before the contact. The difference of mean Y'
  estimates the same effect as the plain difference, with less variance when X predicts Y.
- Several comparisons: Holm's step-down adjustment of p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri, stdtr, stdtrit

# scipy.special's ndtr is the normal CDF, ndtri its inverse, stdtr and stdtrit the same for
# Student's t (degrees of freedom first): what scipy.stats' norm and t evaluate, bit for bit,
# without importing scipy.stats (half a second of the report's start).


@dataclass(frozen=True)
class MeanDifference:
    """mean(treated) - mean(control) with a 95% Welch interval (None when undefined)."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def welch(treated: ArrayLike, control: ArrayLike) -> MeanDifference:
    """Welch's t interval and two-sided test for a difference of means.

    Needs two customers in each group for the variances; a group without variation (both
    all zero, say) has a standard error of 0 and no interval.
    """
    y_t = np.asarray(treated, dtype=float)
    y_c = np.asarray(control, dtype=float)
    if len(y_t) == 0 or len(y_c) == 0:
        raise ValueError("a difference of means needs customers in both groups")
    diff = float(y_t.mean() - y_c.mean())
    if len(y_t) < 2 or len(y_c) < 2:
        return MeanDifference(diff, None, None, None)
    v_t = float(y_t.var(ddof=1)) / len(y_t)
    v_c = float(y_c.var(ddof=1)) / len(y_c)
    se = math.sqrt(v_t + v_c)
    if se == 0:
        return MeanDifference(diff, None, None, None)
    df = (v_t + v_c) ** 2 / (v_t**2 / (len(y_t) - 1) + v_c**2 / (len(y_c) - 1))
    q = float(stdtrit(df, 0.975))
    p = float(2 * stdtr(df, -abs(diff) / se))
    return MeanDifference(diff, diff - q * se, diff + q * se, p)


@dataclass(frozen=True)
class Cuped:
    """The CUPED-adjusted difference and how much of the variance the covariate removed."""

    theta: float
    difference: MeanDifference
    variance_reduction: float  # 1 - var(Y') / var(Y), over both groups


def cuped(y: ArrayLike, x: ArrayLike, treated: ArrayLike) -> Cuped | None:
    """CUPED with theta = cov(Y, X) / var(X) over all customers (treated and control).

    None when X does not vary (no pre-period revenue at all: nothing to adjust with).
    """
    y_all = np.asarray(y, dtype=float)
    x_all = np.asarray(x, dtype=float)
    is_t = np.asarray(treated, dtype=bool)
    var_x = float(x_all.var(ddof=1)) if len(x_all) > 1 else 0.0
    if var_x == 0:
        return None
    theta = float(np.cov(y_all, x_all, ddof=1)[0, 1]) / var_x
    adjusted = y_all - theta * (x_all - x_all.mean())
    var_y = float(y_all.var(ddof=1))
    reduction = 1 - float(adjusted.var(ddof=1)) / var_y if var_y > 0 else 0.0
    return Cuped(theta, welch(adjusted[is_t], adjusted[~is_t]), reduction)


def two_proportion_z(n_a: int, x_a: int, n_b: int, x_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None without variance."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return None
    return float(2 * ndtr(-abs(x_a / n_a - x_b / n_b) / se))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and does not count as a test)."""
    known = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(known)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def sample_size_per_group(rate_a: float, rate_b: float, alpha: float = 0.05,
                          power: float = 0.8) -> int | None:
    """Customers per group for a two-sided two-proportion z-test to detect rate_a vs rate_b
    (normal approximation, equal groups); None when the rates are equal."""
    if rate_a == rate_b:
        return None
    z_a = float(ndtri(1 - alpha / 2))
    z_b = float(ndtri(power))
    mean = (rate_a + rate_b) / 2
    top = (z_a * math.sqrt(2 * mean * (1 - mean))
           + z_b * math.sqrt(rate_a * (1 - rate_a) + rate_b * (1 - rate_b))) ** 2
    return math.ceil(top / (rate_a - rate_b) ** 2)
