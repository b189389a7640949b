"""Simulated calibration/holdout tables from each purchase model, for tests (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate(
    model: str, params: dict[str, float], n: int, seed: int, calibration: float = 39.0,
    holdout: float = 39.0,
) -> pd.DataFrame:
    """Customers born uniformly in the first 12 weeks, observed to `calibration`, then over
    `holdout` more weeks; purchase times on whole days (as summaries of day-level data)."""
    rng = np.random.default_rng(seed)
    birth = np.floor(rng.uniform(0, 84, n)) / 7
    span = calibration + holdout - birth
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    if model == "paretonbd":
        death = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], n))
        keep_max = np.full(n, np.iinfo(np.int64).max)
    else:
        p = rng.beta(params["a"], params["b"], n)
        death = np.full(n, np.inf)
        # purchases survived: BG/NBD drops after the J-th purchase, MBG/NBD may drop at 0
        keep_max = rng.geometric(p) - (1 if model == "mbgnbd" else 0)
    counts = rng.poisson(lam * span)
    owner = np.repeat(np.arange(n), counts)
    times = rng.uniform(0, 1, counts.sum()) * span[owner]
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    alive = (rank < keep_max[owner]) & (times < death[owner])
    owner, days = owner[alive], np.ceil(times[alive] * 7) / 7
    frame = pd.DataFrame({"c": owner, "t": days}).drop_duplicates()
    t_cal = calibration - birth
    cal = frame[frame["t"] <= t_cal[frame["c"]]]
    hold = frame[frame["t"] > t_cal[frame["c"]]]
    x = np.bincount(cal["c"], minlength=n)
    tx = np.zeros(n)
    np.maximum.at(tx, cal["c"].to_numpy(), cal["t"].to_numpy())
    return pd.DataFrame({
        "frequency": x, "recency": tx, "T": t_cal,
        "frequency_holdout": np.bincount(hold["c"], minlength=n),
        "duration_holdout": holdout,
    })
