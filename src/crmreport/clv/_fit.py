"""Shared fitting machinery: input checks, compression and a robust optimiser."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from crmreport.errors import CrmError, DataError

FloatArray = NDArray[np.float64]
# Objective: log-parameters -> (negative mean log-likelihood, gradient).
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

# Log-parameters are boxed so exp() cannot overflow; an optimum on the box means the data
# do not identify the parameter.
LOG_BOUND = 25.0
# Tight tolerances: published parameters are matched to 3-4 significant digits.
_LBFGS = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}


class ConvergenceError(CrmError):
    """A CLV model fit did not converge to a usable optimum.

    `theta` holds the log-parameters where the optimiser stopped, if it got that far.
    """

    def __init__(self, message: str, theta: FloatArray | None = None):
        super().__init__(message)
        self.theta = theta


class Fitted:
    """A model's fitted parameters and log-likelihood: empty until ``fit`` sets them."""

    def __init__(self) -> None:
        self.params: dict[str, float] = {}
        self.log_likelihood: float = float("nan")

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items()) or "not fitted"
        return f"{type(self).__name__}({shown})"


class NotFittedError(CrmError):
    """A model was asked for a prediction before it was fitted."""


def as_float(values: ArrayLike, name: str) -> FloatArray:
    """Return `values` as a 1-d float array, rejecting NaN and infinities."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise DataError(f"{name}: {bad} value(s) are missing or infinite; drop or fill them first")
    return arr


def check(condition: NDArray[np.bool_], message: str) -> None:
    """Raise a DataError naming how many rows break `condition`."""
    bad = int(np.count_nonzero(~condition))
    if bad:
        raise DataError(f"{bad} row(s): {message}")


def dot(a: NDArray[Any], b: NDArray[Any]) -> float:
    """The inner product of two 1-d arrays, summed by numpy rather than BLAS.

    OpenBLAS runs a long product on several threads; on a busy machine they wait for cores,
    and 80,000 values took 33 ms instead of 0.3 ms (measured, bench/bench_clv.py).
    """
    return float(np.einsum("i,i->", a, b))


def row_weights(n: int, weights: ArrayLike | None) -> FloatArray:
    """Checked weights for n rows; 1 each by default."""
    w = np.ones(n) if weights is None else as_float(weights, "weights")
    if w.size != n:
        raise DataError(f"weights has {w.size} values but the data has {n} rows")
    check(w >= 0, "weights must be non-negative")
    return w


def compress(
    columns: tuple[FloatArray, ...], weights: ArrayLike | None
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Merge identical rows, summing their weights (default weight 1 per row).

    Likelihoods depend only on the row values, so a million customers collapse to the few
    thousand distinct (x, t_x, T) combinations that day-level data can produce.
    """
    w = row_weights(columns[0].size, weights)
    unique, inverse = unique_rows(columns)
    summed = np.asarray(np.bincount(inverse, weights=w, minlength=unique[0].size), dtype=np.float64)
    keep = summed > 0
    if not keep.any():
        raise DataError("no customers with positive weight to fit")
    return tuple(col[keep] for col in unique), summed[keep]


def unique_rows(columns: tuple[FloatArray, ...]) -> tuple[tuple[FloatArray, ...], NDArray[np.intp]]:
    """Distinct rows of equal-length columns and each row's index into them.

    Columns with few distinct values (frequency and T of day-level data) are numbered by
    their values' ranks, one small integer per row. If that covers every column, the rows
    are counted with bincount, without sorting them; otherwise the rows are sorted once by
    that number and the other columns (e.g. recency as an exact time), and a row differing
    from the one before starts a new one. Both are several times faster than
    np.unique(axis=0), which sorts whole rows as bytes, or than a np.unique with inverse per
    column (numpy sorts values several times faster than it sorts indices, and small
    integers fastest of all). The distinct rows come in a fixed order: by that number, then
    by the other columns.
    """
    n = columns[0].size
    limit = 4 * n + 1024  # key values a bincount may cover
    key = np.zeros(n, dtype=np.int64)
    space = 1  # the key's values lie in range(space)
    ranked: dict[int, FloatArray] = {}  # column -> its distinct values, for those in the key
    for i, col in enumerate(columns):
        values = np.unique(col)  # a sort of values: cheap
        if space * values.size <= limit:
            key = key * values.size + np.searchsorted(values, col)
            space *= values.size
            ranked[i] = values
    rest = [col for i, col in enumerate(columns) if i not in ranked]
    if not rest:
        present = np.bincount(key, minlength=space) > 0
        inverse = (np.cumsum(present) - 1)[key]
        codes = np.flatnonzero(present)
        unique: dict[int, FloatArray] = {}
        for i in reversed(ranked):  # the key's last digit is the last ranked column's rank
            codes, rank = np.divmod(codes, ranked[i].size)
            unique[i] = ranked[i][rank]
        return tuple(unique[i] for i in range(len(columns))), inverse
    small: NDArray[Any] = key.astype(np.uint16) if space <= 2**16 else key
    order = np.lexsort((*rest[::-1], small))  # the last key is the primary one
    new = np.zeros(n, dtype=bool)
    new[:1] = True
    for col in (small, *rest):
        ordered: NDArray[Any] = col[order]
        new[1:] |= ordered[1:] != ordered[:-1]
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return tuple(col[order[new]] for col in columns), inverse


def maximise(objective: Objective, start: FloatArray, model: str, hint: str) -> FloatArray:
    """Minimise `objective` in log-parameter space; raise ConvergenceError on failure.

    L-BFGS-B with the analytic gradient first; if it stops early, Nelder-Mead (no gradient
    needed) and an L-BFGS-B polish from where it ended. BLAS runs on one thread meanwhile:
    L-BFGS-B's tiny vector steps cost more in waking threads than they compute, much more on
    a busy machine (0.9 s of a 1M-customer fit went to them).
    """
    with one_blas_thread():
        return _maximise(objective, start, model, hint)


def one_blas_thread() -> AbstractContextManager[Any]:
    """BLAS limited to one thread for the duration of a ``with`` block."""
    limit: AbstractContextManager[Any] = _blas_controller().limit(limits=1, user_api="blas")
    return limit


@functools.cache
def _blas_controller() -> ThreadpoolController:
    # Finding the loaded BLAS libraries walks every shared library in the process: 7-27 ms
    # each time in a plan (threadpool_limits does it on every call), once here. It knows the
    # libraries loaded by then, numpy's and scipy's (imported at this module's top); a BLAS
    # loaded later would not be limited.
    return ThreadpoolController()


def _maximise(objective: Objective, start: FloatArray, model: str, hint: str) -> FloatArray:
    bounds = [(-LOG_BOUND, LOG_BOUND)] * start.size
    res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=_LBFGS)
    if not _converged(res):
        res = minimize(
            lambda p: objective(p)[0],
            res.x if np.all(np.isfinite(res.x)) else start,
            method="Nelder-Mead",
            options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
        )
        polish_start = np.clip(res.x, -LOG_BOUND, LOG_BOUND)
        res = minimize(
            objective, polish_start, jac=True, method="L-BFGS-B", bounds=bounds, options=_LBFGS
        )
    if not _converged(res):
        raise ConvergenceError(
            f"{model} fit did not converge ({res.message}); {hint}", np.asarray(res.x)
        )
    theta = np.asarray(res.x, dtype=np.float64)
    if np.any(np.abs(theta) > LOG_BOUND - 1):
        raise ConvergenceError(
            f"{model} fit ran to a parameter bound (a parameter went to 0 or infinity); {hint}",
            theta,
        )
    return theta


def _converged(res: object) -> bool:
    fun = getattr(res, "fun", np.nan)
    jac = np.asarray(getattr(res, "jac", np.nan))
    return bool(np.isfinite(fun) and np.all(np.isfinite(jac)) and np.max(np.abs(jac)) < 1e-4)
