"""The fitting fast paths give what their plain per-row definitions give.

The fits sum the log-likelihood from per-distinct-x lookups and weighted sums; the per-row
``_log_likelihood`` functions are the reference. Distinct rows are found without sorting
rows when the columns have few values, and with one sort otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from crmreport.clv import bgnbd, gammagamma
from crmreport.clv._fit import unique_rows


def _customers(n: int, seed: int, continuous: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    t_end = rng.integers(1, 60, n) / 7.0
    x = rng.poisson(rng.gamma(0.5, 4.0, n)).astype(float)
    tx = np.where(x > 0, t_end * rng.random(n), 0.0)
    if not continuous:
        tx = np.floor(tx * 7) / 7
    m = np.where(x > 0, np.round(rng.gamma(6.0, 5.0, n), 2), 0.0)
    w = rng.integers(0, 4, n).astype(float)
    return x, tx, t_end, m, w


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("params", [(0.243, 4.414, 0.793, 2.426), (1.0, 1.0, 1.0, 1.0),
                                    (3.0, 0.5, 0.2, 9.0)])
def test_bgnbd_objective_matches_per_row_likelihood(continuous: bool, params: tuple) -> None:
    x, tx, t_end, _, w = _customers(5000, 1, continuous)
    theta = np.log(params)
    ll, grad = bgnbd._log_likelihood(np.array(params), x, tx, t_end)
    value, gradient = bgnbd._Objective(x, tx, t_end, w)(theta)
    assert value == pytest.approx(-(w @ ll) / w.sum(), rel=1e-12)
    np.testing.assert_allclose(gradient, -(grad @ w) / w.sum(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("theta", [(0.0, 0.0, 0.0), (1.8, 1.0, -0.7), (2.0, -1.0, 1.0),
                                   (16.0, 1.4, -12.0)])
def test_gammagamma_objective_matches_per_row_likelihood(theta: tuple) -> None:
    x, _, _, m, w = _customers(5000, 2, True)
    keep = x > 0
    x, m, w = x[keep], m[keep] / m[keep].mean(), w[keep]
    ll, grad = gammagamma._log_likelihood(np.array(theta), x, m)
    value, gradient = gammagamma._Objective(x, m, w)(np.array(theta))
    assert value == pytest.approx(-(w @ ll) / w.sum(), rel=1e-9)
    np.testing.assert_allclose(gradient, -(grad @ w) / w.sum(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("continuous", [False, True])
@pytest.mark.parametrize("columns", [(0, 1, 2), (0, 2), (1,), (2, 0, 1)])
def test_unique_rows_are_the_distinct_rows(continuous: bool, columns: tuple[int, ...]) -> None:
    data = _customers(20000, 3, continuous)
    cols = tuple(data[i] for i in columns)
    unique, inverse = unique_rows(cols)
    expected = np.unique(np.stack(cols), axis=1)
    assert unique[0].size == expected.shape[1]
    for col, distinct in zip(cols, unique, strict=True):
        np.testing.assert_array_equal(distinct[inverse], col)
    assert np.unique(np.stack(unique), axis=1).shape[1] == unique[0].size  # no row twice


def test_unique_rows_of_nothing() -> None:
    (a, b), inverse = unique_rows((np.array([]), np.array([])))
    assert a.size == b.size == inverse.size == 0
