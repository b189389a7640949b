"""The Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee 2005, "RFM and CLV").

Each transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers. It is
fitted on repeat buyers only (frequency > 0), with monetary = their mean repeat-purchase value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from crmreport.clv._fit import (
    LOG_BOUND,
    ConvergenceError,
    Fitted,
    FloatArray,
    NotFittedError,
    as_float,
    check,
    compress,
    dot,
    maximise,
)
from crmreport.errors import DataError

_HINT = (
    "check for extreme or mis-scaled spend values (winsorise outliers, use one currency) "
    "and that frequency counts repeat purchases only"
)
_Q_NEAR_ONE = (
    "Gamma-Gamma needs q > 1 for a finite expected spend, but this data drive q towards 1 "
    "(spend is too heavy-tailed); cap extreme spend values (e.g. at the 99th percentile) or "
    "check for outliers and unit mix-ups, then refit"
)


class GammaGamma(Fitted):
    """Gamma-Gamma spend model; q = 1 + exp(theta) keeps the mean spend finite.

    >>> g = GammaGamma().fit(frequency, monetary)          # doctest: +SKIP
    >>> g.params                                           # doctest: +SKIP
    {'p': 6.25, 'q': 3.74, 'gamma': 15.44}
    """

    @classmethod
    def from_params(cls, p: float, q: float, gamma: float) -> GammaGamma:
        """A model with known parameters, ready to predict. Requires q > 1."""
        if not q > 1:
            raise ValueError(f"q must be > 1 for a finite mean spend, got {q}")
        model = cls()
        model.params = {"p": float(p), "q": float(q), "gamma": float(gamma)}
        return model

    def fit(
        self, frequency: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None = None
    ) -> GammaGamma:
        """Fit p, q, gamma on customers with frequency > 0 (others are ignored); return self.

        `monetary` is each customer's mean repeat-purchase value and must be positive.
        Raises DataError for unusable inputs and ConvergenceError if the fit fails or would
        need q <= 1.
        """
        x, m = as_float(frequency, "frequency"), as_float(monetary, "monetary")
        if x.size != m.size:
            raise ValueError("frequency and monetary must have the same length")
        w_all = None if weights is None else as_float(weights, "weights")
        repeat = x > 0
        x, m = x[repeat], m[repeat]
        check(m > 0, "monetary must be > 0 for customers with frequency > 0 (drop net refunds)")
        if x.size == 0:
            raise DataError("Gamma-Gamma needs repeat buyers (frequency > 0); there are none")
        # Spend in cents repeats: a million customers give some 75,000 distinct (x, m) pairs.
        (x, m), w = compress((x, m), None if w_all is None else w_all[repeat])
        # Spend is fitted in units of its mean so gamma's start and bounds suit any currency.
        scale = dot(w, m) / float(w.sum())
        objective = _Objective(x, m / scale, w)
        theta = self._maximise(objective)
        p, q, gamma = _natural(theta)
        self.params = {"p": p, "q": q, "gamma": gamma * scale}
        # Density of the rescaled spend: undo the change of variable per customer.
        self.log_likelihood = -objective(theta)[0] * objective.total - float(w.sum()) * np.log(
            scale)
        return self

    def conditional_expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> FloatArray:
        """E[spend per transaction | x, m]; the population mean p*gamma/(q-1) when x = 0.

        `monetary` of customers with x = 0 is ignored (it may be 0 or NaN).
        """
        if not self.params:
            raise NotFittedError("GammaGamma is not fitted: call .fit(frequency, monetary) first")
        x = as_float(frequency, "frequency")
        raw = np.asarray(monetary, dtype=np.float64).reshape(-1)
        m = np.where(x > 0, raw, 0.0)
        as_float(m, "monetary")  # rejects NaN for repeat buyers only
        p, q, gamma = self.params["p"], self.params["q"], self.params["gamma"]
        return np.asarray(p * (gamma + x * m) / (p * x + q - 1), dtype=np.float64)

    def _maximise(self, objective: _Objective) -> FloatArray:
        # Start at p = 1, q = 2 and gamma matching the mean spend (spend is scaled to mean 1).
        start = np.array([0.0, 0.0, 0.0])
        try:
            return maximise(objective, start, "Gamma-Gamma", _HINT)
        except ConvergenceError as err:
            if err.theta is not None and err.theta[1] < -LOG_BOUND + 1:
                raise ConvergenceError(_Q_NEAR_ONE, err.theta) from err
            raise


def _natural(theta: FloatArray) -> tuple[float, float, float]:
    return float(np.exp(theta[0])), 1.0 + float(np.exp(theta[1])), float(np.exp(theta[2]))


class _Objective:
    """The negative mean log-likelihood over weighted rows and its gradient, from sums.

    The same value as ``_log_likelihood`` (kept as the per-row reference), rearranged: the
    gamma-family terms depend on x alone and are evaluated once per distinct x, and the sum
    of log m is fixed. The terms in log(gamma + m x) are written as log1p(gamma / (m x)) for
    p and log1p(m x / gamma) for q, so that nothing of the size of p or q cancels when they
    run large (near-constant spend drives p, or q and gamma, towards infinity).
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray):
        self.ux, xi = np.unique(x, return_inverse=True)
        self.wx = np.bincount(xi, weights=w, minlength=self.ux.size)  # weight per x
        self.w, self.w_x, self.mx = w, w * x, m * x
        self.sum_log_m = dot(w, np.log(m))
        self.total = float(w.sum())

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = _natural(theta)
        ux, wx, w, w_x, mx = self.ux, self.wx, self.w, self.w_x, self.mx
        pu = p * ux
        for_p = np.log1p(gamma / mx)  # log(gamma + m x) - log(m x)
        for_q = np.log1p(mx / gamma)  # log(gamma + m x) - log(gamma)
        inv = 1.0 / (gamma + mx)
        p_sum, q_sum = dot(w_x, for_p), dot(w, for_q)
        ll = (dot(gammaln(pu + q) - gammaln(pu) - gammaln(q), wx) - self.sum_log_m
              - p * p_sum - q * q_sum)
        psi = digamma(pu + q)
        d_p = dot(psi - digamma(pu), ux * wx) - p_sum
        d_q = dot(psi - digamma(q), wx) - q_sum
        # q/gamma - (p x + q)/(gamma + m x), with q's part over a common denominator
        d_gamma = q / gamma * dot(w, mx * inv) - p * dot(w_x, inv)
        grad = np.array([d_p * p, d_q * (q - 1), d_gamma * gamma])
        return -ll / self.total, -grad / self.total


def _log_likelihood(
    theta: FloatArray, x: FloatArray, m: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log density of the mean spend m over x transactions, and its gradient.

    Parameters are theta = (log p, log(q - 1), log gamma).
    """
    p, q, gamma = _natural(theta)
    px = p * x
    log_gm = np.log(gamma + m * x)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_gm
    )
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_gm)
    d_q = psi - digamma(q) + np.log(gamma) - log_gm
    d_gamma = q / gamma - (px + q) / (gamma + m * x)
    grad = np.stack([d_p * p, d_q * (q - 1), d_gamma * gamma])
    return ll, grad
