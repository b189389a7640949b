"""The churn model's logistic regression and scores: against hand-computed cases, and
against scikit-learn (an independent implementation of the same objective)."""

from __future__ import annotations

import numpy as np
import pytest

from crmreport.features.logistic import brier, fit_logistic, roc_auc


def _data(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(5, 2, n), rng.exponential(30, n), rng.integers(0, 2, n),
                         np.full(n, 7.0)])  # a constant column: left unscaled
    score = 0.8 * (x[:, 0] - 5) - 0.03 * x[:, 1] + 0.5 * x[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(int)
    return x, y


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_scikit_learn(seed: int) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data(seed)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    expected = reference.fit(x, y).predict_proba(x)[:, 1]
    got = fit_logistic(x, y).predict_proba(x)
    assert np.max(np.abs(got - expected)) < 1e-6


def test_separable_data_stays_finite_under_the_penalty() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    p = fit_logistic(x, np.array([0, 0, 1, 1])).predict_proba(x)
    assert np.all(np.isfinite(p)) and p[0] < 0.5 < p[3]


def test_balanced_labels_without_signal_give_one_half() -> None:
    x = np.array([[1.0], [1.0], [2.0], [2.0]])
    p = fit_logistic(x, np.array([0, 1, 0, 1])).predict_proba(x)
    assert np.allclose(p, 0.5, atol=1e-6)


def test_auc_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75  # 3 of 4 pairs ordered
    assert roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5  # all ties count half
    assert roc_auc(y, np.array([0.1, 0.3, 0.3, 0.9])) == 0.875  # one tied pair of four


def test_auc_matches_scikit_learn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 5000)
    p = np.round(rng.random(5000) * 0.5 + 0.3 * y, 2)  # many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_brier_by_hand() -> None:
    assert brier(np.array([1, 0]), np.array([0.75, 0.5])) == (0.0625 + 0.25) / 2
