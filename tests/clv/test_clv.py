"""Discounted CLV: the formula, its invariants and extreme customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.clv import BGNBD, GammaGamma, clv

BG = BGNBD.from_params(0.2426, 4.414, 0.7929, 2.426)
GG = GammaGamma.from_params(6.25, 3.74, 15.44)


def test_matches_the_stepwise_formula() -> None:
    x, tx, T, m = [2], [30.43], [38.86], [22.35]
    spend = GG.conditional_expected_spend(x, m)[0]
    rate, total, previous = 0.01, 0.0, 0.0
    for t in range(1, 53):
        current = BG.conditional_expected_purchases(t, x, tx, T)[0]
        total += (current - previous) * spend / (1 + rate) ** t
        previous = current
    got = clv(BG, GG, x, tx, T, m, horizon=52, discount_rate=rate)[0]
    assert got == pytest.approx(total, rel=1e-10)


def test_no_discount_and_one_step_is_expected_purchases_times_spend() -> None:
    x, tx, T, m = [0, 3, 7], [0.0, 20.0, 35.0], [30.0, 38.0, 38.0], [0.0, 30.0, 12.0]
    got = clv(BG, GG, x, tx, T, m, horizon=26, discount_rate=0.0, step=26)
    want = BG.conditional_expected_purchases(26, x, tx, T) * GG.conditional_expected_spend(x, m)
    assert got == pytest.approx(want, rel=1e-12)


def test_horizon_not_a_multiple_of_step_ends_at_horizon() -> None:
    args = ([2], [30.0], [38.0], [20.0])
    exact = clv(BG, GG, *args, horizon=10.5, discount_rate=0.0, step=1)
    one = clv(BG, GG, *args, horizon=10.5, discount_rate=0.0, step=10.5)
    assert exact == pytest.approx(one, rel=1e-12)


def test_cdnow_clv_is_plausible(
    cdnow_summary: pd.DataFrame, cdnow_bgnbd: BGNBD, cdnow_gg: GammaGamma
) -> None:
    s = cdnow_summary
    value = clv(
        cdnow_bgnbd,
        cdnow_gg,
        s["frequency"],
        s["recency"],
        s["T"],
        s["monetary"],
        horizon=52,
        discount_rate=0.0018,
    )
    assert value.shape == (2357,)
    assert np.isfinite(value).all() and (value >= 0).all()
    assert (
        value[s["frequency"].to_numpy() > 5].mean() > value[s["frequency"].to_numpy() == 0].mean()
    )


def test_extreme_customers_are_finite_and_non_negative() -> None:
    x = np.array([0, 0, 800, 800, 300, 1, 5000])
    tx = np.array([0.0, 0.0, 0.1, 2999.0, 1e5, 0.0, 1e6])
    T = np.array([0.0, 1e6, 3000.0, 3000.0, 1e5, 1e6, 1e6])
    m = np.array([0.0, np.nan, 1e6, 1e-3, 50.0, 20.0, 5.0])
    for horizon, rate in ((52, 0.002), (5200, 0.0), (1e5, 0.001)):
        value = clv(BG, GG, x, tx, T, m, horizon=horizon, discount_rate=rate, step=13)
        assert np.isfinite(value).all() and (value >= 0).all()


@settings(max_examples=100, deadline=None)
@given(
    x=st.integers(0, 1000),
    T=st.floats(0, 5000),
    share=st.floats(0, 1),
    m=st.floats(0.01, 1e7),
    horizon=st.floats(0.5, 520),
    rate=st.floats(0, 0.2),
)
def test_clv_non_negative_and_finite(
    x: int, T: float, share: float, m: float, horizon: float, rate: float
) -> None:
    tx = T * share if x else 0.0
    value = clv(BG, GG, [x], [tx], [T], [m], horizon=horizon, discount_rate=rate, step=4)
    assert np.isfinite(value).all() and (value >= 0).all()


@settings(max_examples=50, deadline=None)
@given(horizon=st.floats(1, 200), extra=st.floats(0.1, 100), rate=st.floats(0, 0.1))
def test_clv_grows_with_horizon(horizon: float, extra: float, rate: float) -> None:
    args = ([3], [20.0], [30.0], [25.0])
    short = clv(BG, GG, *args, horizon=horizon, discount_rate=rate, step=horizon)
    longer = clv(BG, GG, *args, horizon=horizon + extra, discount_rate=rate, step=horizon + extra)
    # one step each, so only when undiscounted is the comparison exact
    if rate == 0:
        assert longer[0] >= short[0]


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        clv(BG, GG, [1], [1.0], [2.0], [1.0], horizon=0, discount_rate=0.0)
    with pytest.raises(ValueError, match="discount_rate"):
        clv(BG, GG, [1], [1.0], [2.0], [1.0], horizon=1, discount_rate=-1.0)
