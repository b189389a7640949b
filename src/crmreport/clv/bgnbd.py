"""The BG/NBD model of repeat purchasing (Fader, Hardie and Lee 2005).

While alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat
purchase they drop out for good with probability p ~ Beta(a, b). Inputs per customer, all in
one time unit (weeks or days, as summarised): frequency x (repeat purchases), recency t_x
(time of last purchase since the first) and T (time from first purchase to the end of the
observation period).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp

from crmreport.clv._fit import (
    Fitted,
    FloatArray,
    NotFittedError,
    as_float,
    check,
    compress,
    maximise,
)
from crmreport.errors import DataError

# Mean dropout chance (BG/NBD, MBG/NBD) or rate (Pareto/NBD) below which a fit "finds no
# dropout": P(alive) is then ~1 for everyone and cannot rank lapsed against active customers.
NO_DROPOUT = 1e-4

_HINT = (
    "check that frequency, recency and T are in the same time unit and that the data hold "
    "repeat purchases; a longer calibration period or more customers may be needed"
)


class BGNBD(Fitted):
    """BG/NBD purchase-count model, fitted by maximum likelihood.

    >>> m = BGNBD().fit(frequency, recency, T)          # doctest: +SKIP
    >>> m.params                                        # doctest: +SKIP
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> m.probability_alive(frequency, recency, T)      # doctest: +SKIP
    """

    name = "bgnbd"

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> BGNBD:
        """A model with known parameters (e.g. from a previous fit), ready to predict."""
        model = cls()
        model.params = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        return model

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BGNBD:
        """Fit r, alpha, a, b by maximum likelihood; return self.

        Customers with identical (frequency, recency, T) are merged before fitting. Pass
        `weights` (number of customers per row) to fit an already compressed table.
        Raises DataError for impossible inputs and ConvergenceError if the fit fails.
        """
        x, tx, t_end = _validated(frequency, recency, T)
        (x, tx, t_end), w = compress((x, tx, t_end), weights)
        if not np.any(x > 0):
            raise DataError("BG/NBD needs some repeat purchases (frequency > 0); there are none")
        total = float(w.sum())

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = _log_likelihood(np.exp(theta), x, tx, t_end)
            return -float(w @ ll) / total, -(grad @ w) / total

        start = np.log([1.0, _start_alpha(x, t_end, w), 1.0, 1.0])
        theta = maximise(objective, start, "BG/NBD", _HINT)
        r, alpha, a, b = np.exp(theta)
        self.params = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        self.log_likelihood = float(w @ _log_likelihood(np.exp(theta), x, tx, t_end)[0])
        return self

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases of a new customer in the first `t` time units."""
        t_arr = as_float(t, "t")
        zero = np.zeros_like(t_arr)
        return self.alive_expectation(zero, zero, t_arr)

    def conditional_expected_purchases(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next `t` time units per customer."""
        x, tx, t_end = _validated(frequency, recency, T)
        horizon = np.broadcast_to(as_float(t, "t"), x.shape)
        alive = self.probability_alive(x, tx, t_end)
        return self.alive_expectation(x, t_end, horizon) * alive

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T); exactly 1 for customers with no repeat purchase (x = 0).

        Computed as a logistic of the log odds, so it neither overflows for customers with
        hundreds of purchases nor divides by zero.
        """
        x, tx, t_end = _validated(frequency, recency, T)
        r, alpha, a, b = self._values()
        xs = np.maximum(x, 1.0)  # b + x - 1 > 0 only for x >= 1; x = 0 is masked below
        log_odds_dead = (
            np.log(a) - np.log(b + xs - 1) + (r + xs) * (np.log(alpha + t_end) - np.log(alpha + tx))
        )
        return np.where(x > 0, expit(-log_odds_dead), 1.0)

    @property
    def no_dropout(self) -> bool:
        """True when the fit finds (almost) no dropout: mean dropout chance a/(a+b) < 1e-4."""
        a, b = self._values()[2:]
        return a / (a + b) < NO_DROPOUT

    def alive_expectation(self, x: FloatArray, t_end: FloatArray, t: FloatArray) -> FloatArray:
        """Expected purchases in (T, T+t] for a customer known to be alive at T.

        The paper's ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) is rewritten with
        Euler's transformation as (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z): for large x the
        original pairs a huge hypergeometric value with a tiny power and overflows.
        """
        r, alpha, a, b = self._values()
        return alive_expectation(r, alpha, a, b, x, t_end, t)


    def _values(self) -> tuple[float, float, float, float]:
        if not self.params:
            raise NotFittedError("BGNBD is not fitted: call .fit(frequency, recency, T) first")
        p = self.params
        return p["r"], p["alpha"], p["a"], p["b"]


def alive_expectation(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_end: FloatArray, t: FloatArray
) -> FloatArray:
    """(a+b+x-1)/(a-1) * (1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)),
    z = t/(alpha+T+t), via Euler's transformation (see BGNBD.alive_expectation)."""
    if abs(a - 1.0) < 1e-7:  # removable singularity at a = 1
        a = 1.0 + np.copysign(1e-7, a - 1.0)
    z = t / (alpha + t_end + t)
    tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    value = (a + b + x - 1) / (a - 1) * (1.0 - tail)
    return np.maximum(np.asarray(value, dtype=np.float64), 0.0)


def _validated(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = as_float(frequency, "frequency")
    tx = as_float(recency, "recency")
    t_end = as_float(T, "T")
    if not x.size == tx.size == t_end.size:
        raise ValueError("frequency, recency and T must have the same length")
    check(x >= 0, "frequency must be >= 0")
    check(np.floor(x) == x, "frequency must be a whole number of repeat purchases")
    check(tx >= 0, "recency must be >= 0")
    check(tx <= t_end, "recency must not exceed T (use the same time unit and as_of)")
    check((x > 0) | (tx == 0), "recency must be 0 for customers with frequency 0")
    return x, tx, t_end


def _start_alpha(x: FloatArray, t_end: FloatArray, w: FloatArray) -> float:
    """Starting alpha so that r/alpha (with r = 1) matches the average purchase rate."""
    rate = float(w @ x) / max(float(w @ t_end), 1e-12)
    return float(np.clip(1.0 / max(rate, 1e-6), 1e-3, 1e6))


def _log_likelihood(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient with respect to the log-parameters.

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
    """
    r, alpha, a, b = params
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)  # keeps b + x - 1 > 0 in the masked term
    log_at, log_ax = np.log(alpha + t_end), np.log(alpha + tx)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    term1 = betaln(a, b + x) - (r + x) * log_at
    term2 = np.where(repeat, betaln(a + 1, b + xs - 1) - (r + x) * log_ax, -np.inf)
    both = np.stack([term1, term2])
    mix = logsumexp(both, axis=0)
    w1 = np.exp(term1 - mix)
    w2 = 1.0 - w1

    psi_abx = digamma(a + b + x)
    d_common_b = -(digamma(b) - digamma(a + b))
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * log_at - w2 * log_ax
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + t_end) + w2 / (alpha + tx))
    d_a = (
        -(digamma(a) - digamma(a + b))
        + w1 * (digamma(a) - psi_abx)
        + w2 * np.where(repeat, digamma(a + 1) - psi_abx, 0.0)
    )
    d_b = (
        d_common_b
        + w1 * (digamma(b + x) - psi_abx)
        + w2 * np.where(repeat, digamma(b + xs - 1) - psi_abx, 0.0)
    )
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return common + mix, grad
