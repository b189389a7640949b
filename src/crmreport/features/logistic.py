"""Logistic regression with an L2 penalty, fitted by scipy's L-BFGS-B, and the two scores
the churn model reports (ROC AUC, Brier score).

The churn model used scikit-learn's LogisticRegression for this; importing scikit-learn
(and scipy.stats under it) took 1.0-1.5 s of a plan, more than both fits. The objective is
scikit-learn's: the mean log loss plus ``||w||^2 / (2 C n)``, intercept unpenalised, minimised
from zero with its L-BFGS-B settings, so the coefficients agree with it to its tolerance
(tests/features/test_logistic.py compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit, log_expit

FloatArray = NDArray[np.float64]
# scikit-learn's lbfgs settings for LogisticRegression(tol=1e-4)
_LBFGS = {"maxiter": 1000, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps}


@dataclass(frozen=True)
class Logistic:
    """A fitted model: standardisation of the inputs, then the linear score's coefficients."""

    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float

    def predict_proba(self, x: FloatArray) -> FloatArray:
        """P(y = 1) for each row of ``x``."""
        return np.asarray(expit(self._standard(x) @ self.coef + self.intercept))

    def _standard(self, x: FloatArray) -> FloatArray:
        return (x - self.mean) / self.scale


def fit_logistic(x: FloatArray, y: NDArray[np.integer], c: float = 1.0) -> Logistic:
    """Standardise ``x`` (mean 0, variance 1; a constant column is left unscaled, as
    scikit-learn's StandardScaler does) and fit P(y = 1) by penalised maximum likelihood."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    target = y.astype(np.float64)
    penalty = 1.0 / (c * len(target))

    def loss_and_gradient(w: FloatArray) -> tuple[float, FloatArray]:
        raw = z @ w[:-1] + w[-1]
        # log(1 + e^raw) - y raw, written so that neither term overflows
        loss = float(np.mean((1.0 - target) * raw - log_expit(raw)))
        residual = (expit(raw) - target) / len(target)
        grad = np.append(z.T @ residual + penalty * w[:-1], residual.sum())
        return loss + 0.5 * penalty * float(w[:-1] @ w[:-1]), grad

    res = minimize(loss_and_gradient, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B",
                   options=_LBFGS)
    return Logistic(mean, scale, np.asarray(res.x[:-1]), float(res.x[-1]))


def roc_auc(y: NDArray[np.integer], p: FloatArray) -> float:
    """The chance that a random positive scores above a random negative, ties counting half
    (the Mann-Whitney U over both classes' sizes: the area under the ROC curve)."""
    order = np.argsort(p, kind="stable")
    ordered = p[order]
    # a run of equal scores shares the mean of the ranks it spans (1-based)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(p)]
    ranks = np.empty(len(p))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    positives = int(y.sum())
    negatives = len(y) - positives
    u = ranks[y == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def brier(y: NDArray[np.integer], p: FloatArray) -> float:
    """The mean squared difference between predicted probability and outcome."""
    return float(np.mean((p - y) ** 2))
