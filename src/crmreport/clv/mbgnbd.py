"""The MBG/NBD model (Batislam, Denizel and Filiztekin 2007): BG/NBD with dropout at time 0.

As BG/NBD, a living customer buys at Poisson rate lambda ~ Gamma(r, alpha) and may drop out
with probability p ~ Beta(a, b) at each purchase, but here the first purchase counts too:
a customer can be lost right after it, so a one-time buyer's P(alive) is below 1.

Derivations, with x repeat purchases, the last at t_x, observed up to T. Given (lambda, p),
x purchases were survived x + 1 times if alive at T, and x times then dropped after t_x:

    L(lambda, p) = (1-p)^(x+1) lambda^x e^(-lambda T) + p (1-p)^x lambda^x e^(-lambda t_x)

Mixing, E[(1-p)^(x+1)] = B(a, b+x+1)/B(a, b), E[p (1-p)^x] = B(a+1, b+x)/B(a, b) and
E[lambda^x e^(-lambda u)] = G(r+x)/G(r) alpha^r/(alpha+u)^(r+x):

    L = G(r+x) alpha^r / G(r) * [B(a, b+x+1) (alpha+T)^-(r+x) + B(a+1, b+x) (alpha+t_x)^-(r+x)]
        / B(a, b)

P(alive | x, t_x, T) is the first term's share: 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)).
Alive at T, the posterior is lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x+1), and from then on
dropout happens only after purchases, as in BG/NBD: E[Y(t) | alive] = E[(1 - e^(-lambda p t))/p],
i.e. the BG/NBD expression with b replaced by b+1. A new customer is alive after the first
purchase with probability b/(a+b), so E[X(t)] = b/(a-1) (1 - (alpha/(alpha+t))^r
2F1(r, b+1; a+b; t/(alpha+t))).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, logsumexp

from crmreport.clv._fit import Fitted, FloatArray, NotFittedError, as_float, compress, maximise
from crmreport.clv.bgnbd import NO_DROPOUT, _start_alpha, _validated, alive_expectation
from crmreport.errors import DataError

_HINT = (
    "check that frequency, recency and T are in the same time unit and that the data hold "
    "repeat purchases; a longer calibration period or more customers may be needed"
)


class MBGNBD(Fitted):
    """MBG/NBD purchase-count model, fitted by maximum likelihood (same API as BGNBD)."""

    name = "mbgnbd"

    @classmethod
    def from_params(cls, r: float, alpha: float, a: float, b: float) -> MBGNBD:
        """A model with known parameters, ready to predict."""
        model = cls()
        model.params = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        return model

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> MBGNBD:
        """Fit r, alpha, a, b by maximum likelihood on the distinct (x, t_x, T); return self."""
        x, tx, t_end = _validated(frequency, recency, T)
        (x, tx, t_end), w = compress((x, tx, t_end), weights)
        if not np.any(x > 0):
            raise DataError("MBG/NBD needs some repeat purchases (frequency > 0); there are none")
        total = float(w.sum())

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = _log_likelihood(np.exp(theta), x, tx, t_end)
            return -float(w @ ll) / total, -(grad @ w) / total

        start = np.log([1.0, _start_alpha(x, t_end, w), 1.0, 1.0])
        theta = maximise(objective, start, "MBG/NBD", _HINT)
        r, alpha, a, b = np.exp(theta)
        self.params = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        self.log_likelihood = float(w @ _log_likelihood(np.exp(theta), x, tx, t_end)[0])
        return self

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases of a new customer in the first `t` time units."""
        t_arr = as_float(t, "t")
        zero = np.zeros_like(t_arr)
        a, b = self._values()[2:]
        return b / (a + b) * self.alive_expectation(zero, zero, t_arr)

    def conditional_expected_purchases(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next `t` time units per customer."""
        x, tx, t_end = _validated(frequency, recency, T)
        horizon = np.broadcast_to(as_float(t, "t"), x.shape)
        return self.alive_expectation(x, t_end, horizon) * self.probability_alive(x, tx, t_end)

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)), below 1 for
        every customer, one-time buyers included; a logistic of the log odds (no overflow)."""
        x, tx, t_end = _validated(frequency, recency, T)
        r, alpha, a, b = self._values()
        log_odds_dead = (
            np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + t_end) - np.log(alpha + tx))
        )
        return np.asarray(expit(-log_odds_dead), dtype=np.float64)

    @property
    def no_dropout(self) -> bool:
        """True when the fit finds (almost) no dropout: mean dropout chance a/(a+b) < 1e-4."""
        a, b = self._values()[2:]
        return a / (a + b) < NO_DROPOUT

    def alive_expectation(self, x: FloatArray, t_end: FloatArray, t: FloatArray) -> FloatArray:
        """Expected purchases in (T, T+t] of a customer alive at T: BG/NBD's with b + 1."""
        r, alpha, a, b = self._values()
        return alive_expectation(r, alpha, a, b + 1.0, x, t_end, t)

    def _values(self) -> tuple[float, float, float, float]:
        if not self.params:
            raise NotFittedError("MBGNBD is not fitted: call .fit(frequency, recency, T) first")
        p = self.params
        return p["r"], p["alpha"], p["a"], p["b"]


def _log_likelihood(
    params: FloatArray, x: FloatArray, tx: FloatArray, t_end: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood (module docstring) and its gradient in the log-parameters.

    With w1, w2 the shares of the two terms and psi = digamma:
    d/dr = psi(r+x) - psi(r) + log alpha - w1 log(alpha+T) - w2 log(alpha+t_x)
    d/dalpha = r/alpha - (r+x) (w1/(alpha+T) + w2/(alpha+t_x))
    d/da = -(psi(a) - psi(a+b)) + w1 (psi(a) - psi(a+b+x+1)) + w2 (psi(a+1) - psi(a+b+x+1))
    d/db = -(psi(b) - psi(a+b)) + w1 (psi(b+x+1) - psi(a+b+x+1)) + w2 (psi(b+x) - psi(a+b+x+1))
    and d/dlog(theta) = theta d/dtheta.
    """
    r, alpha, a, b = params
    log_at, log_ax = np.log(alpha + t_end), np.log(alpha + tx)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    term1 = betaln(a, b + x + 1) - (r + x) * log_at
    term2 = betaln(a + 1, b + x) - (r + x) * log_ax
    mix = logsumexp(np.stack([term1, term2]), axis=0)
    w1 = np.exp(term1 - mix)
    w2 = 1.0 - w1
    psi_abx = digamma(a + b + x + 1)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * log_at - w2 * log_ax
    d_alpha = r / alpha - (r + x) * (w1 / (alpha + t_end) + w2 / (alpha + tx))
    d_a = -(digamma(a) - digamma(a + b)) + w1 * (digamma(a) - psi_abx) + w2 * (
        digamma(a + 1) - psi_abx
    )
    d_b = -(digamma(b) - digamma(a + b)) + w1 * (digamma(b + x + 1) - psi_abx) + w2 * (
        digamma(b + x) - psi_abx
    )
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return common + mix, grad
