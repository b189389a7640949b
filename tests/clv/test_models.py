"""MBG/NBD, Pareto/NBD, the holdout verdict and model selection."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

from crmreport.clv import MBGNBD, ParetoNBD, select, select_model
from crmreport.clv.holdout import verdict
from tests.clv.simulate import simulate

PNBD = {"r": 0.5533, "alpha": 10.58, "s": 0.6062, "beta": 11.67}


@pytest.fixture(scope="module")
def cdnow_pnbd(cdnow_summary: pd.DataFrame) -> ParetoNBD:
    s = cdnow_summary
    return ParetoNBD().fit(s["frequency"], s["recency"], s["T"])


def test_pareto_nbd_reproduces_published_cdnow_fit(cdnow_pnbd: ParetoNBD) -> None:
    p = cdnow_pnbd.params
    assert (round(p["r"], 2), round(p["alpha"], 2), round(p["s"], 2), round(p["beta"], 2)) == (
        0.55, 10.58, 0.61, 11.67)
    assert round(cdnow_pnbd.log_likelihood, 1) == -9595.0


def _pnbd_numeric(params: dict[str, float], x: int, tx: float, T: float, t: float
                  ) -> tuple[float, float]:
    """P(alive) and E[Y(t)] by quadrature over the gamma mixing distributions: lambda's
    moments E[lambda^k e^(-lambda u)] in closed form, mu and the death time tau numerically
    (no hypergeometric function involved)."""
    r, alpha, s, beta = params.values()
    g_mu = stats.gamma(s, scale=1 / beta)

    def lam(k: float, u: float) -> float:  # E[lambda^k e^(-lambda u)]
        return float(np.exp(gammaln(r + k) - gammaln(r)) * alpha ** r / (alpha + u) ** (r + k))

    def mu_quad(f: Callable[[float], float]) -> float:
        return float(integrate.quad(lambda m: f(m) * g_mu.pdf(m), 0, np.inf,
                                    epsabs=0, epsrel=1e-12, limit=500)[0])

    alive = lam(x, T) * mu_quad(lambda m: np.exp(-m * T))
    # death at tau in (t_x, T]: E_mu[mu e^(-mu tau)] integrated over tau
    # (E_mu[mu e^(-mu tau)] = s beta^s / (beta+tau)^(s+1), the gamma moment, checked once)
    assert mu_quad(lambda m: m * np.exp(-m * T)) == pytest.approx(
        s * beta ** s / (beta + T) ** (s + 1), rel=1e-9)
    dead = integrate.quad(lambda tau: lam(x, tau) * s * beta ** s / (beta + tau) ** (s + 1),
                          tx, T, epsabs=0, epsrel=1e-12, limit=200)[0]
    future = lam(x + 1, T) * mu_quad(lambda m: np.exp(-m * T) * -np.expm1(-m * t) / m)
    return alive / (alive + dead), future / (alive + dead)


@pytest.mark.parametrize("params", [PNBD, {"r": 0.55, "alpha": 11.67, "s": 0.61,
                                           "beta": 10.58}], ids=["alpha<beta", "alpha>=beta"])
@pytest.mark.parametrize(("x", "tx", "T"), [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 5.0, 32.0)])
def test_pareto_nbd_matches_numeric_integration(
    params: dict[str, float], x: int, tx: float, T: float
) -> None:
    model = ParetoNBD.from_params(**params)
    p_alive, expected = _pnbd_numeric(params, x, tx, T, 39.0)
    assert model.probability_alive([x], [tx], [T])[0] == pytest.approx(p_alive, abs=1e-6)
    got = model.conditional_expected_purchases(39.0, [x], [tx], [T])[0]
    assert got == pytest.approx(expected, abs=1e-6)


def test_pareto_nbd_expected_purchases_matches_numeric_integration() -> None:
    r, alpha, s, beta = PNBD.values()
    model = ParetoNBD.from_params(**PNBD)
    for t in (1.0, 39.0, 78.0):
        # E[X(t) | lambda, mu] = lambda/mu (1 - e^(-mu t)); E[lambda] = r/alpha
        direct = r / alpha * integrate.quad(
            lambda m, t=t: -np.expm1(-m * t) / m * stats.gamma.pdf(m, s, scale=1 / beta),
            0, np.inf, epsrel=1e-12, limit=500)[0]
        assert model.expected_purchases([t])[0] == pytest.approx(direct, rel=1e-7)


def test_pareto_nbd_extreme_customers_are_finite() -> None:
    model = ParetoNBD.from_params(**PNBD)
    x = np.array([0, 500, 500, 1, 300])
    tx = np.array([0.0, 0.5, 999.0, 0.0, 1e5])
    T = np.array([1e5, 1000.0, 1000.0, 1e5, 1e5])
    p = model.probability_alive(x, tx, T)
    e = model.conditional_expected_purchases(52, x, tx, T)
    assert np.isfinite(p).all() and np.isfinite(e).all() and ((p >= 0) & (p <= 1)).all()


@pytest.fixture(scope="module")
def cdnow_mbg(cdnow_summary: pd.DataFrame) -> MBGNBD:
    s = cdnow_summary
    return MBGNBD().fit(s["frequency"], s["recency"], s["T"])


def test_mbgnbd_on_cdnow(cdnow_mbg: MBGNBD, cdnow_summary: pd.DataFrame) -> None:
    p = cdnow_mbg.params
    assert (round(p["r"], 3), round(p["alpha"], 2), round(p["a"], 3), round(p["b"], 3)) == (
        0.525, 6.18, 0.891, 1.614)
    assert round(cdnow_mbg.log_likelihood, 1) == -9582.1
    one_timer = cdnow_mbg.probability_alive([0], [0.0], [38.86])[0]
    assert 0 < one_timer < 1
    s = cdnow_summary
    e = cdnow_mbg.conditional_expected_purchases(39, s["frequency"], s["recency"], s["T"])
    assert np.isfinite(e).all() and (e >= 0).all()


def test_mbgnbd_expected_purchases_matches_numeric_integration(cdnow_mbg: MBGNBD) -> None:
    r, alpha, a, b = cdnow_mbg.params.values()
    for t in (1.0, 39.0, 78.0):
        # E[X(t) | lambda, p] = (1-p)/p (1 - e^(-lambda p t)); lambda integrated in closed form
        direct = integrate.quad(
            lambda q, t=t: (1 - q) / q * (1 - (alpha / (alpha + q * t)) ** r)
            * stats.beta.pdf(q, a, b), 0, 1, epsrel=1e-12, limit=200)[0]
        assert cdnow_mbg.expected_purchases([t])[0] == pytest.approx(direct, rel=1e-6)


def test_mbgnbd_gradient_fit_matches_weighted_fit(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    rows = s.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    compressed = MBGNBD().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["n"])
    full = MBGNBD().fit(s["frequency"], s["recency"], s["T"])
    assert compressed.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-9)


def test_verdict_by_hand() -> None:
    # 4 customers: frequencies 0, 0, 1, 9; actual 0, 1, 2, 5 = 8; predicted 0.5, 0.5, 1, 7 = 9
    v = verdict("bgnbd", [0, 0, 1, 9], [0, 1, 2, 5], [0.5, 0.5, 1.0, 7.0])
    assert (v.actual, v.predicted, v.error_percent) == (8.0, 9.0, 12.5)
    assert v.mean_squared_error == pytest.approx((0.25 + 0.25 + 1 + 4) / 4)
    assert v.warning and v.threshold_percent == 10.0
    assert v.text == ("bgnbd over-predicts the holdout period's repeat purchases by 12.5% "
                      "(9.0 predicted against 8 actual), beyond the 10% warning threshold.")
    buckets = {b.frequency: b for b in v.by_frequency}
    assert (buckets["0"].customers, buckets["0"].actual, buckets["0"].predicted) == (2, 1.0, 1.0)
    assert buckets["0"].error_percent == 0.0
    assert buckets["1"].error_percent == -50.0
    assert buckets["7+"].error_percent == 40.0 and buckets["3"].error_percent is None
    assert v.bucket_chi_square == pytest.approx(0 + 1 / 2 + 4 / 5)
    under = verdict("m", [1, 2], [10, 10], [9.5, 9.5])
    assert not under.warning and "under-predicts" in under.text and "5.0%" in under.text


SIMULATED = {
    "bgnbd": {"r": 0.4, "alpha": 4.0, "a": 0.6, "b": 1.2},
    "mbgnbd": {"r": 0.4, "alpha": 4.0, "a": 0.6, "b": 1.2},
    "paretonbd": {"r": 0.8, "alpha": 4.0, "s": 1.5, "beta": 20.0},
}


@pytest.mark.parametrize("model", list(SIMULATED))
def test_selection_picks_the_generating_model(model: str) -> None:
    table = simulate(model, SIMULATED[model], n=8000, seed=1)
    selection = select_model(table)
    assert selection.chosen == model, [(c.model, c.verdict) for c in selection.candidates]
    assert all(c.verdict is not None for c in selection.candidates)


def test_selection_skips_models_that_fail() -> None:
    T = np.linspace(10, 50, 50)
    table = pd.DataFrame({"frequency": np.full(50, 5), "recency": T, "T": T,
                          "frequency_holdout": 5, "duration_holdout": 39.0})
    selection = select_model(table, ["bgnbd"])
    assert selection.chosen is None
    assert "check that frequency" in (selection.candidate("bgnbd").reason or "")


def test_selection_takes_the_earlier_model_when_fits_tie(monkeypatch: pytest.MonkeyPatch) -> None:
    # Online Retail: all three collapse to one no-dropout fit, chi-squares equal to 1e-6.
    chi = {"bgnbd": 134.32744, "mbgnbd": 134.32745, "paretonbd": 134.32728}

    def scored(name: str, table: object) -> select.Candidate:
        verdict = SimpleNamespace(bucket_chi_square=chi[name], warning=False)
        return select.Candidate(name, verdict=verdict)

    monkeypatch.setattr(select, "_candidate", scored)
    assert select.select_model(pd.DataFrame()).chosen == "bgnbd"
    chi["paretonbd"] = 120.0  # a real difference still wins
    assert select.select_model(pd.DataFrame()).chosen == "paretonbd"
