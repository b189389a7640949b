import math

import numpy as np
import pytest
from scipy import stats

from crmreport.monitor.stats import cuped, holm, sample_size_per_group, two_proportion_z, welch


def test_welch_matches_hand_computation_and_scipy():
    t, c = [0.0, 0.0, 10.0, 30.0], [0.0, 5.0, 1.0]
    d = welch(t, c)
    # by hand: means 10 and 2; variances 200 and 7 -> se^2 = 200/4 + 7/3
    se2 = 50 + 7 / 3
    df = se2**2 / (50**2 / 3 + (7 / 3) ** 2 / 2)
    q = stats.t.ppf(0.975, df)
    assert d.estimate == pytest.approx(8.0)
    assert d.ci_low == pytest.approx(8 - q * math.sqrt(se2))
    ref = stats.ttest_ind(t, c, equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert (d.ci_low, d.ci_high) == pytest.approx((low, high))
    assert d.p_value == pytest.approx(ref.pvalue)


def test_welch_without_variance_has_no_interval():
    d = welch([0.0, 0.0], [0.0, 0.0, 0.0])
    assert d.estimate == 0 and d.ci_low is None and d.p_value is None
    with pytest.raises(ValueError):
        welch([], [1.0])


def test_cuped_theta_is_the_pooled_regression_slope():
    rng = np.random.default_rng(7)
    x = rng.gamma(1.0, 20.0, 400)
    treated = np.arange(400) % 2 == 0
    y = 0.5 * x + rng.normal(0, 5, 400) + np.where(treated, 3.0, 0.0)
    result = cuped(y, x, treated)
    assert result is not None
    slope = np.polyfit(x, y, 1)[0]  # least squares over treated and control together
    assert result.theta == pytest.approx(slope)
    adjusted = y - slope * (x - x.mean())
    ref = stats.ttest_ind(adjusted[treated], adjusted[~treated], equal_var=False)
    assert result.difference.estimate == pytest.approx(
        adjusted[treated].mean() - adjusted[~treated].mean())
    assert (result.difference.ci_low, result.difference.ci_high) == pytest.approx(
        tuple(ref.confidence_interval(0.95)))
    assert result.variance_reduction == pytest.approx(
        1 - adjusted.var(ddof=1) / y.var(ddof=1))
    # the covariate explains most of y: the interval narrows against the plain one
    plain = welch(y[treated], y[~treated])
    assert (result.difference.ci_high - result.difference.ci_low) < (
        plain.ci_high - plain.ci_low) / 2


def test_cuped_needs_a_varying_covariate():
    assert cuped([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [True, False, True]) is None


def test_two_proportion_z_matches_chi_square():
    p = two_proportion_z(200, 30, 180, 15)
    table = [[30, 170], [15, 165]]
    chi2 = stats.chi2_contingency(table, correction=False)
    assert p == pytest.approx(chi2.pvalue)
    assert two_proportion_z(10, 0, 10, 0) is None


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04)
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_sample_size_matches_the_textbook_formula():
    # Fleiss (no continuity correction), 10% vs 15%, alpha 0.05, power 0.8: 686 per group
    assert sample_size_per_group(0.10, 0.15) == 686
    assert sample_size_per_group(0.2, 0.2) is None


def test_special_functions_are_scipy_stats_bit_for_bit():
    # stats.py and response.py call scipy.special directly (scipy.stats takes half a second
    # to import): the same values as scipy.stats' norm and t, exactly, not approximately.
    from scipy import special

    rng = np.random.default_rng(14)
    x = np.concatenate([rng.normal(0, 3, 2000), [0.0, 1e-9, 5.0, 38.0]])
    q = np.concatenate([rng.uniform(0, 1, 2000), [0.5, 0.8, 0.975, 1e-12]])
    df = np.concatenate([rng.uniform(1, 5000, 2000), [1.0, 2.0, 3.5, 10.0]])
    assert np.array_equal(special.ndtr(-x), stats.norm.sf(x))
    assert np.array_equal(special.ndtri(q), stats.norm.ppf(q))
    assert np.array_equal(special.stdtr(df, -x), stats.t.sf(x, df))
    assert np.array_equal(special.stdtrit(df, q), stats.t.ppf(q, df))
