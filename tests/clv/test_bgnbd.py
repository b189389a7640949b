"""BG/NBD: the published CDNOW fit, closed forms checked independently, and invariants."""

from __future__ import annotations

import decimal
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import hyp2f1

from crmreport.clv import BGNBD, ConvergenceError, NotFittedError
from crmreport.clv.bgnbd import alive_expectation
from crmreport.errors import CrmError, DataError

CDNOW = {"r": 0.2426, "alpha": 4.414, "a": 0.7929, "b": 2.426}
MODEL = BGNBD.from_params(**CDNOW)


def test_reproduces_published_cdnow_fit(cdnow_bgnbd: BGNBD) -> None:
    p = cdnow_bgnbd.params
    assert round(p["r"], 3) == 0.243
    assert round(p["alpha"], 3) == 4.414
    assert round(p["a"], 3) == 0.793
    assert round(p["b"], 3) == 2.426
    assert round(cdnow_bgnbd.log_likelihood, 1) == -9582.4


def test_compressed_fit_with_weights_matches_uncompressed(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    rows = s.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    assert len(rows) < len(s)
    # Bypass the internal compression: pass one row per distinct triple with its count.
    compressed = BGNBD().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["n"])
    full = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    for key in CDNOW:
        assert compressed.params[key] == pytest.approx(full.params[key], rel=1e-6)
    assert compressed.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-9)


def test_conditional_expectation_matches_closed_form() -> None:
    # Fader, Hardie and Lee (2005) eq. 10, evaluated directly (no Euler transformation).
    r, alpha, a, b = CDNOW.values()
    x, tx, T, t = 2, 30.43, 38.86, 39.0
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    den = 1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)
    got = MODEL.conditional_expected_purchases(t, [x], [tx], [T])[0]
    assert got == pytest.approx(num / den, rel=1e-10)
    assert round(got, 3) == 1.226  # the worked example in the paper


def test_expected_purchases_matches_numeric_integration() -> None:
    r, alpha, a, b = CDNOW.values()

    def direct(t: float) -> float:
        # E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p, integrated over lambda in closed
        # form and over p ~ Beta(a, b) numerically.
        def integrand(p: float) -> float:
            return (1 - (alpha / (alpha + p * t)) ** r) / p * stats.beta.pdf(p, a, b)

        return float(integrate.quad(integrand, 0, 1, limit=200)[0])

    for t in (1.0, 39.0, 78.0, 520.0):
        assert MODEL.expected_purchases([t])[0] == pytest.approx(direct(t), rel=1e-6)


def test_expected_purchases_track_cdnow_repeat_sales(cdnow: pd.DataFrame) -> None:
    # Aggregate check over the 78 weeks: sum over customers of E[X(78 - birth week)].
    first = cdnow.groupby("customer")["date"].min()
    age = (pd.Timestamp("1998-06-30") - first).dt.days.to_numpy() / 7
    predicted = MODEL.expected_purchases(age).sum()
    days = cdnow.groupby(["customer", "date"]).size().groupby("customer").size()
    actual = int((days - 1).sum())
    assert abs(predicted - actual) / actual < 0.05


def test_probability_alive_is_one_without_repeat_purchases() -> None:
    assert MODEL.probability_alive([0, 0], [0, 0], [0.0, 500.0]).tolist() == [1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(1, 2000),
    T=st.floats(0.01, 5000),
    share=st.floats(0, 1),
    shift=st.floats(0, 1),
)
def test_probability_alive_bounded_and_monotone_in_recency(
    x: int, T: float, share: float, shift: float
) -> None:
    early = T * share * (1 - shift)
    late = T * share
    p = MODEL.probability_alive([x, x], [early, late], [T, T])
    assert np.all((p >= 0) & (p <= 1))
    assert p[1] >= p[0]


@settings(max_examples=200, deadline=None)
@given(
    x=st.integers(0, 1000),
    T=st.floats(0, 10_000),
    share=st.floats(0, 1),
    t=st.floats(0, 10_000),
)
def test_conditional_expectation_finite_and_non_negative(
    x: int, T: float, share: float, t: float
) -> None:
    tx = T * share if x else 0.0
    e = MODEL.conditional_expected_purchases(t, [x], [tx], [T])
    assert np.isfinite(e).all() and (e >= 0).all()


def _papers_expectation(r: float, alpha: float, a: float, b: float, x: float, T: float,
                        t: float) -> float:
    """The paper's form, Gauss's series summed term by term in 60-digit decimals: independent
    of scipy's hyp2f1 and of floating point's range."""
    with decimal.localcontext() as context:
        context.prec = 60
        big_a, big_b, big_c = (Decimal(v) for v in (r + x, b + x, a + b + x - 1))
        z = Decimal(t) / (Decimal(alpha) + Decimal(T) + Decimal(t))
        total, term, k = Decimal(0), Decimal(1), 0
        while term > total * Decimal("1e-30") or k < 5:
            total += term
            term *= (big_a + k) * (big_b + k) / ((big_c + k) * (k + 1)) * z
            k += 1
        tail = (1 - z) ** big_a * total
        return float((big_c / (Decimal(a) - 1)) * (1 - tail))


def test_a_and_b_far_beyond_the_data_give_the_papers_expectation_without_warnings() -> None:
    # a fit on the 500-customer demo's short calibration period: a and b in the tens of
    # millions, where Euler's form is 0 * inf; with 500 purchases and a long horizon the
    # paper's form overflows too
    r, alpha, a, b = 0.19881234531541972, 5.104061275390482, 10882350.506182857, 73794465.78
    x, T, t = np.array([0.0, 0.0, 3.0, 500.0]), np.array([1.14, 2.71, 30.0, 30.0]), \
        np.array([26.0, 26.0, 26.0, 300.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = alive_expectation(r, alpha, a, b, x, T, t)
    paper = [_papers_expectation(r, alpha, a, b, *case) for case in zip(x, T, t, strict=True)]
    assert got == pytest.approx(paper, rel=1e-9)
    assert 0 < got[1] < got[0] < got[2] < got[3]  # longer without a purchase: fewer


def test_extreme_customers() -> None:
    x = np.array([0, 500, 500, 1, 300])
    tx = np.array([0.0, 0.5, 999.0, 0.0, 1e5])
    T = np.array([1e5, 1000.0, 1000.0, 1e5, 1e5])
    p = MODEL.probability_alive(x, tx, T)
    e = MODEL.conditional_expected_purchases(52, x, tx, T)
    assert np.isfinite(p).all() and np.isfinite(e).all()
    assert p[1] == pytest.approx(0.0, abs=1e-12) and p[2] > 0.5
    assert (e >= 0).all()


def test_rejects_impossible_inputs() -> None:
    with pytest.raises(DataError, match="recency must not exceed T"):
        BGNBD().fit([1], [5.0], [2.0])
    with pytest.raises(DataError, match="recency must be 0"):
        BGNBD().fit([0], [1.0], [2.0])
    with pytest.raises(DataError, match="missing or infinite"):
        BGNBD().fit([1.0, np.nan], [0.0, 0.0], [1.0, 1.0])


def test_unidentified_fit_raises_convergence_error() -> None:
    # Everyone bought at the very end: no sign of dropout, so b runs off to infinity.
    T = np.linspace(10, 50, 50)
    with pytest.raises(ConvergenceError, match="check that frequency") as info:
        BGNBD().fit(np.full(50, 5), T, T)
    assert isinstance(info.value, CrmError)


def test_no_repeat_purchases_is_a_data_error() -> None:
    with pytest.raises(DataError, match="needs some repeat purchases"):
        BGNBD().fit(np.zeros(50), np.zeros(50), np.linspace(1, 50, 50))


def test_prediction_before_fit_is_an_error() -> None:
    with pytest.raises(NotFittedError, match=r"call \.fit"):
        BGNBD().probability_alive([1], [1.0], [2.0])


def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(7)
    n, T = 20_000, 52.0
    lam = rng.gamma(CDNOW["r"], 1 / CDNOW["alpha"], n)
    p = rng.beta(CDNOW["a"], CDNOW["b"], n)
    events = rng.poisson(lam * T)
    x = np.minimum(events, rng.geometric(p))
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), events - x + 1), 0.0)
    fit = BGNBD().fit(x, tx, np.full(n, T))
    for key in ("r", "alpha", "a", "b"):
        assert fit.params[key] == pytest.approx(CDNOW[key], rel=0.25)
