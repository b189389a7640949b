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
    dot,
    maximise,
    unique_rows,
)
from crmreport.errors import DataError

_MAX_TERMS = 100_000  # of the log-space series (alive_expectation's last resort)

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
        objective = _Objective(x, tx, t_end, w)
        start = np.log([1.0, _start_alpha(x, t_end, w), 1.0, 1.0])
        theta = maximise(objective, start, "BG/NBD", _HINT)
        r, alpha, a, b = np.exp(theta)
        self.params = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        self.log_likelihood = -objective(theta)[0] * objective.total
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
        # The hypergeometric term depends on (x, T, t) alone: once per distinct triple.
        (ux, ut, uh), inverse = unique_rows((x, t_end, horizon))
        return self.alive_expectation(ux, ut, uh)[inverse] * alive

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
    z = t/(alpha+T+t), via Euler's transformation (see BGNBD.alive_expectation). Where a and
    b are far beyond the data (a fit on a short calibration period) Euler's form is 0 * inf:
    the paper's form is used there, and its series summed in log space where that
    overflows too."""
    if abs(a - 1.0) < 1e-7:  # removable singularity at a = 1
        a = 1.0 + np.copysign(1e-7, a - 1.0)
    z = t / (alpha + t_end + t)
    with np.errstate(over="ignore", invalid="ignore"):
        tail = np.exp((a - 1.0) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        failed = ~np.isfinite(tail)
        if failed.any():
            x, z = np.broadcast_arrays(x, z)
            tail = np.array(np.broadcast_to(tail, z.shape))
            tail[failed] = _papers_tail(r, a, b, x[failed], z[failed])
    value = (a + b + x - 1) / (a - 1) * (1.0 - tail)
    return np.maximum(np.asarray(value, dtype=np.float64), 0.0)


def _papers_tail(r: float, a: float, b: float, x: FloatArray, z: FloatArray) -> FloatArray:
    """(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), as the paper writes it; the series summed in
    log space where scipy's value overflows."""
    tail = np.exp((r + x) * np.log1p(-z)) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    over = ~np.isfinite(tail)
    tail[over] = np.exp((r + x[over]) * np.log1p(-z[over]) + _log_series(r, a, b, x[over],
                                                                         z[over]))
    return np.asarray(tail, dtype=np.float64)


def _log_series(r: float, a: float, b: float, x: FloatArray, z: FloatArray) -> FloatArray:
    """log 2F1(r+x, b+x; a+b+x-1; z), its terms summed in log space until the rest (each
    later ratio of terms bounded by its factors' bound) is below 1e-15 of the sum; NaN
    where that takes more than _MAX_TERMS terms."""
    big_a, big_b, big_c = r + x, b + x, a + b + x - 1
    log_term, log_sum = np.zeros_like(z), np.zeros_like(z)
    active = np.ones(z.shape, dtype=bool)
    k = 0
    while active.any() and k < _MAX_TERMS:
        log_term = log_term + np.log((big_a + k) * (big_b + k) / ((big_c + k) * (k + 1)) * z)
        log_sum = np.where(active, np.logaddexp(log_sum, log_term), log_sum)
        k += 1
        bound = (z * np.maximum(1.0, (big_a + k) / (k + 1))
                 * np.maximum(1.0, (big_b + k) / (big_c + k)))
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = log_term + np.log(bound / (1.0 - bound))
        active &= ~((bound < 1.0) & (rest < log_sum - 34.6))  # e^-34.6: 1e-15
    return np.where(active, np.nan, log_sum)


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
    # dot, not @: outside the fit's one-BLAS-thread block, @ took 0.2 s on a busy machine
    rate = dot(w, x) / max(dot(w, t_end), 1e-12)
    return float(np.clip(1.0 / max(rate, 1e-6), 1e-3, 1e6))


class _Objective:
    """The negative mean log-likelihood over weighted rows and its gradient in log-parameters.

    The same sums as ``_log_likelihood`` (which stays as the per-row reference), arranged for
    speed: x takes few values, so every gamma-family function of x is evaluated once per
    distinct x and looked up; T takes few values too (whole days), so log(alpha+T) per
    distinct T; per row are only log(alpha+t_x), the two-term mix and a handful of products.
    The gradient needs only weighted sums, so the per-row weights of the mix are summed per
    x with one bincount.
    """

    def __init__(self, x: FloatArray, tx: FloatArray, t_end: FloatArray, w: FloatArray):
        self.ux, self.xi = np.unique(x, return_inverse=True)
        self.ut, self.ti = np.unique(t_end, return_inverse=True)
        self.x, self.tx, self.w = x, tx, w
        self.wx = np.bincount(self.xi, weights=w, minlength=self.ux.size)  # weight per x
        self.total = float(w.sum())
        self.repeat = self.ux > 0
        self.ux1 = np.where(self.repeat, self.ux, 1.0) - 1  # x - 1, kept >= 0 where x = 0

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(theta)
        ux, ux1, repeat, wx, w = self.ux, self.ux1, self.repeat, self.wx, self.w
        total = self.total
        rx = r + self.x
        log_at = np.log(alpha + self.ut)[self.ti]
        log_ax = np.log(alpha + self.tx)
        term1 = betaln(a, b + ux)[self.xi] - rx * log_at
        # x = 0 has t_x = 0: its second term is masked by -inf, leaving the first alone.
        term2 = np.where(repeat, betaln(a + 1, b + ux1), -np.inf)[self.xi] - rx * log_ax
        mix = np.logaddexp(term1, term2)
        w1 = np.exp(term1 - mix)
        ww1 = w * w1
        ww2 = w - ww1
        s1x = np.bincount(self.xi, weights=ww1, minlength=ux.size)  # sum of w * w1 per x
        s2x = wx - s1x

        common = dot(gammaln(r + ux) - gammaln(r) + r * np.log(alpha) - betaln(a, b), wx)
        ll = common + dot(w, mix)
        psi_abx = digamma(a + b + ux)
        psi_ab = digamma(a + b)
        d_r = (dot(digamma(r + ux) - digamma(r) + np.log(alpha), wx)
               - dot(ww1, log_at) - dot(ww2, log_ax))
        d_alpha = (r / alpha * total - dot(rx * ww1, (1.0 / (alpha + self.ut))[self.ti])
                   - dot(rx * ww2, 1.0 / (alpha + self.tx)))
        d_a = (-(digamma(a) - psi_ab) * total + dot(s1x, digamma(a) - psi_abx)
               + dot(s2x, np.where(repeat, digamma(a + 1) - psi_abx, 0.0)))
        d_b = (-(digamma(b) - psi_ab) * total + dot(s1x, digamma(b + ux) - psi_abx)
               + dot(s2x, np.where(repeat, digamma(b + ux1) - psi_abx, 0.0)))
        grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll / total, -grad / total


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
