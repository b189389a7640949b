"""Gamma-Gamma: the published CDNOW fit, the q > 1 constraint and the spend formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.clv import ConvergenceError, GammaGamma, NotFittedError
from crmreport.errors import DataError


def test_reproduces_published_cdnow_fit(cdnow_summary: pd.DataFrame, cdnow_gg: GammaGamma) -> None:
    assert int((cdnow_summary["frequency"] > 0).sum()) == 946
    p = cdnow_gg.params
    assert round(p["p"], 2) == 6.25
    assert round(p["q"], 2) == 3.74
    assert round(p["gamma"], 2) == 15.44


def test_cent_rounded_spend_gives_the_same_fit(cdnow_summary: pd.DataFrame) -> None:
    # The published spend data are rounded to cents; that does not move the estimates.
    s = cdnow_summary
    rounded = GammaGamma().fit(s["frequency"], s["monetary"].round(2)).params
    assert [round(rounded[k], 2) for k in ("p", "q", "gamma")] == [6.25, 3.74, 15.44]


def test_weighted_fit_matches_repeated_rows() -> None:
    x = np.array([1, 2, 3, 5, 1, 2])
    m = np.array([10.0, 20.0, 15.0, 30.0, 12.0, 40.0])
    n = np.array([3, 1, 2, 1, 4, 2])
    weighted = GammaGamma().fit(x, m, weights=n)
    repeated = GammaGamma().fit(np.repeat(x, n), np.repeat(m, n))
    for key in ("p", "q", "gamma"):
        assert weighted.params[key] == pytest.approx(repeated.params[key], rel=1e-5)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-8)


def test_currency_scale_only_moves_gamma(cdnow_summary: pd.DataFrame, cdnow_gg: GammaGamma) -> None:
    s = cdnow_summary
    cents = GammaGamma().fit(s["frequency"], s["monetary"] * 100)
    assert cents.params["p"] == pytest.approx(cdnow_gg.params["p"], rel=1e-5)
    assert cents.params["q"] == pytest.approx(cdnow_gg.params["q"], rel=1e-5)
    assert cents.params["gamma"] == pytest.approx(cdnow_gg.params["gamma"] * 100, rel=1e-5)


def test_conditional_expected_spend_formula() -> None:
    g = GammaGamma.from_params(6.25, 3.74, 15.44)
    got = g.conditional_expected_spend([0, 2, 10], [np.nan, 22.35, 50.0])
    expected = [
        6.25 * 15.44 / (3.74 - 1),
        6.25 * (15.44 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1),
        6.25 * (15.44 + 10 * 50.0) / (6.25 * 10 + 3.74 - 1),
    ]
    assert got == pytest.approx(expected, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(x=st.integers(0, 10_000), m=st.floats(1e-6, 1e9))
def test_conditional_spend_between_prior_mean_and_observed(x: int, m: float) -> None:
    g = GammaGamma.from_params(6.25, 3.74, 15.44)
    prior = 6.25 * 15.44 / 2.74
    got = g.conditional_expected_spend([x], [m])[0]
    assert np.isfinite(got)
    assert min(prior, m) * (1 - 1e-9) <= got <= max(prior, m) * (1 + 1e-9) or x == 0


def test_heavy_tailed_spend_reports_the_q_constraint() -> None:
    # Simulated from the model with q = 0.5: spend has no finite mean, so the fit needs q <= 1.
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 3000)
    nu = rng.gamma(0.5, 1 / 10.0, x.size)
    m = rng.gamma(4.0 * x, 1 / (nu * x))  # mean of x Gamma(p=4, nu) values
    with pytest.raises(ConvergenceError, match="q > 1"):
        GammaGamma().fit(x, m)


def test_rejects_non_positive_spend_of_repeat_buyers() -> None:
    with pytest.raises(DataError, match="monetary must be > 0"):
        GammaGamma().fit([1, 2], [10.0, -5.0])
    with pytest.raises(DataError, match="there are none"):
        GammaGamma().fit([0, 0], [0.0, 0.0])


def test_from_params_requires_q_above_one() -> None:
    with pytest.raises(ValueError, match="q must be > 1"):
        GammaGamma.from_params(1.0, 1.0, 1.0)


def test_prediction_before_fit_is_an_error() -> None:
    with pytest.raises(NotFittedError):
        GammaGamma().conditional_expected_spend([1], [1.0])
