"""The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987).

While alive, a customer buys at Poisson rate lambda ~ Gamma(r, alpha); their lifetime is
exponential with rate mu ~ Gamma(s, beta), independent of lambda. Same inputs as BG/NBD:
frequency x, recency t_x, T, in one time unit.

Likelihood (as in Fader, Hardie and Lee 2005, "A note on implementing the Pareto/NBD model").
Given (lambda, mu), alive at T or dead at some tau in (t_x, T]:

    L(lambda, mu) = lambda^x e^(-(lambda+mu) T) + lambda^x mu/(lambda+mu) (e^(-(lambda+mu) t_x)
                    - e^(-(lambda+mu) T))

and mixed over both gammas, with C = G(r+x) alpha^r beta^s / G(r) and n = r+s+x:

    L = C [ (alpha+T)^-(r+x) (beta+T)^-s + s/n A0 ]
    alpha >= beta: A0 = F(s+1, alpha-beta, alpha+t_x) - F(s+1, alpha-beta, alpha+T)
    alpha <  beta: A0 = F(r+x, beta-alpha, beta+t_x) - F(r+x, beta-alpha, beta+T)
    F(b, d, u) = 2F1(n, b; n+1; d/u) / u^n

The 2F1 is evaluated in log space after Euler's transformation
2F1(n, b; n+1; z) = (1-z)^(1-b) 2F1(1, n+1-b; n+1; z): the remaining 2F1 has a first
parameter of 1 and stays moderate (its terms (n+1-b)_k/(n+1)_k z^k are at most z^k, as b > 0,
so 1 <= 2F1 <= 1/(1-z)), while the power (1-z)^(1-b) becomes a log term:
log F = log 2F1(1, n+1-b; n+1; z) + (1-b) log1p(-z) - n log u,
and A0 = F1 - F2 (F1 >= F2) as exp(log F1) (-expm1(log F2 - log F1)).

P(alive | x, t_x, T) = C (alpha+T)^-(r+x) (beta+T)^-s / L.
Alive at T, lambda ~ Gamma(r+x, alpha+T) and mu ~ Gamma(s, beta+T), so
E[Y(t) | alive] = E[lambda/mu (1 - e^(-mu t))]
               = (r+x)/(alpha+T) (beta+T)/(s-1) (1 - ((beta+T)/(beta+T+t))^(s-1)),
which tends to (r+x)/(alpha+T) (beta+T) log((beta+T+t)/(beta+T)) as s -> 1, and
E[X(t)] is the same with x = 0, T = 0 (every customer is alive at their first purchase).

The 2F1 terms have no closed-form derivatives in r, s, so the fit uses central finite
differences of the (vectorised, compressed) log-likelihood in the log-parameters.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, hyp2f1

from crmreport.clv._fit import Fitted, FloatArray, NotFittedError, as_float, compress, maximise
from crmreport.clv.bgnbd import NO_DROPOUT, _start_alpha, _validated
from crmreport.errors import DataError

_HINT = (
    "check that frequency, recency and T are in the same time unit and that the data hold "
    "repeat purchases; a longer calibration period or more customers may be needed"
)
_STEP = 1e-5  # finite-difference step in log-parameters: error ~ 1e-10 relative
_MAX_TERMS = 20_000  # of the fallback 2F1 series
_INFEASIBLE = 1e10  # objective where the likelihood cannot be computed


class ParetoNBD(Fitted):
    """Pareto/NBD purchase-count model, fitted by maximum likelihood (same API as BGNBD).

    >>> m = ParetoNBD().fit(frequency, recency, T)      # doctest: +SKIP
    >>> m.params                                        # doctest: +SKIP
    {'r': 0.553, 'alpha': 10.58, 's': 0.606, 'beta': 11.67}
    """

    name = "paretonbd"

    @classmethod
    def from_params(cls, r: float, alpha: float, s: float, beta: float) -> ParetoNBD:
        """A model with known parameters, ready to predict."""
        model = cls()
        model.params = {"r": float(r), "alpha": float(alpha), "s": float(s), "beta": float(beta)}
        return model

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> ParetoNBD:
        """Fit r, alpha, s, beta by maximum likelihood on the distinct (x, t_x, T)."""
        x, tx, t_end = _validated(frequency, recency, T)
        (x, tx, t_end), w = compress((x, tx, t_end), weights)
        if not np.any(x > 0):
            raise DataError(
                "Pareto/NBD needs some repeat purchases (frequency > 0); there are none"
            )
        total = float(w.sum())

        def mean_ll(theta: FloatArray) -> float:
            with np.errstate(invalid="ignore"):
                return float(w @ log_likelihood(np.exp(theta), x, tx, t_end)) / total

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            value = mean_ll(theta)
            if not np.isfinite(value):
                return _INFEASIBLE, np.zeros(theta.size)
            grad = np.empty(theta.size)
            for i in range(theta.size):
                step = np.zeros(theta.size)
                step[i] = _STEP
                grad[i] = (mean_ll(theta + step) - mean_ll(theta - step)) / (2 * _STEP)
            return -value, -grad

        alpha0 = _start_alpha(x, t_end, w)
        start = np.log([1.0, alpha0, 1.0, alpha0])
        theta = maximise(objective, start, "Pareto/NBD", _HINT)
        r, alpha, s, beta = np.exp(theta)
        self.params = {"r": float(r), "alpha": float(alpha), "s": float(s), "beta": float(beta)}
        self.log_likelihood = float(w @ log_likelihood(np.exp(theta), x, tx, t_end))
        return self

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = r beta/(alpha (s-1)) (1 - (beta/(beta+t))^(s-1))."""
        t_arr = as_float(t, "t")
        zero = np.zeros_like(t_arr)
        return self.alive_expectation(zero, zero, t_arr)

    def conditional_expected_purchases(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T] = P(alive) E[Y(t) | alive at T] per customer."""
        x, tx, t_end = _validated(frequency, recency, T)
        horizon = np.broadcast_to(as_float(t, "t"), x.shape)
        return self.alive_expectation(x, t_end, horizon) * self.probability_alive(x, tx, t_end)

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T): the alive term's share of the likelihood (module docstring)."""
        x, tx, t_end = _validated(frequency, recency, T)
        alive, total = _terms(np.array(self._values()), x, tx, t_end)
        return np.asarray(np.clip(np.exp(alive - total), 0.0, 1.0), dtype=np.float64)

    @property
    def no_dropout(self) -> bool:
        """True when the fit finds (almost) no dropout: mean dropout rate s/beta < 1e-4 per
        time unit, or s itself near zero."""
        s, beta = self._values()[2:]
        return s < 1e-3 or s / beta < NO_DROPOUT

    def alive_expectation(self, x: FloatArray, t_end: FloatArray, t: FloatArray) -> FloatArray:
        """E[Y(t) | alive at T]
        = (r+x)/(alpha+T) (beta+T)/(s-1) (1 - ((beta+T)/(beta+T+t))^(s-1))."""
        r, alpha, s, beta = self._values()
        log_ratio = np.log(beta + t_end) - np.log(beta + t_end + t)  # <= 0
        if abs(s - 1.0) < 1e-9:
            growth = -log_ratio
        else:
            growth = -np.expm1((s - 1.0) * log_ratio) / (s - 1.0)
        value = (r + x) / (alpha + t_end) * (beta + t_end) * growth
        return np.maximum(np.asarray(value, dtype=np.float64), 0.0)

    def _values(self) -> tuple[float, float, float, float]:
        if not self.params:
            raise NotFittedError("ParetoNBD is not fitted: call .fit(frequency, recency, T) first")
        p = self.params
        return p["r"], p["alpha"], p["s"], p["beta"]


def log_likelihood(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> FloatArray:
    """Per-row log-likelihood, log L of the module docstring."""
    return _terms(params, x, tx, t_end)[1]


def _terms(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log of the alive term C (alpha+T)^-(r+x) (beta+T)^-s, and log L."""
    r, alpha, s, beta = params
    n = r + s + x
    log_c = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = log_c - (r + x) * np.log(alpha + t_end) - s * np.log(beta + t_end)
    if alpha >= beta:
        b, d, base = np.full_like(x, s + 1.0), alpha - beta, alpha
    else:
        b, d, base = r + x, beta - alpha, beta
    log_f1 = _log_f(n, b, d, base + tx)
    log_f2 = _log_f(n, b, d, base + t_end)
    # A0 = F1 - F2 >= 0 (F falls with u); where t_x = T it is exactly 0.
    gap = np.minimum(log_f2 - log_f1, 0.0)
    with np.errstate(divide="ignore"):
        log_a0 = log_f1 + np.log(-np.expm1(gap))
    dead = log_c + np.log(s) - np.log(n) + log_a0
    total = np.logaddexp(alive, dead)
    return np.asarray(alive, dtype=np.float64), np.asarray(total, dtype=np.float64)


def _log_f(n: FloatArray, b: FloatArray, d: float, u: FloatArray) -> FloatArray:
    """log(2F1(n, b; n+1; d/u) / u^n), via 2F1(n, b; n+1; z) = (1-z)^(1-b) 2F1(1, n+1-b; n+1; z)."""
    z = d / u
    c = np.broadcast_to(n + 1.0, z.shape)
    b_prime = np.broadcast_to(n + 1.0 - b, z.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        hyp = np.asarray(hyp2f1(1.0, b_prime, c, z), dtype=np.float64)
    broken = ~np.isfinite(hyp) | (hyp < 1.0)
    if broken.any():  # scipy gives up for some z near 1 with large parameters
        hyp = hyp.copy()
        hyp[broken] = _hyp2f1_series(b_prime[broken], c[broken], z[broken])
    return np.asarray(np.log(hyp) + (1.0 - b) * np.log1p(-z) - n * np.log(u), dtype=np.float64)


def _hyp2f1_series(b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """2F1(1, b; c; z) = sum_k (b)_k/(c)_k z^k for 0 <= b <= c, 0 <= z < 1, summed directly.

    Each term is at most z times the one before, so after term t_k the rest is below
    t_k z/(1-z); terms are added until that is under 1e-15 of the sum. Where that takes more
    than _MAX_TERMS terms (z within ~1e-5 of 1, parameters far out) the value is NaN: the fit
    treats such a point as infeasible rather than use an unconverged sum.
    """
    total = np.ones_like(z)
    term = np.ones_like(z)
    active = np.ones(z.shape, dtype=bool)
    k = 0
    while active.any() and k < _MAX_TERMS:
        term = np.where(active, term * (b + k) / (c + k) * z, 0.0)
        total += term
        k += 1
        active &= term * z / (1.0 - z) > 1e-15 * total
    return np.where(active, np.nan, total)
