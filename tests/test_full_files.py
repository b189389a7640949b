"""BG/NBD on the full data files through `crmreport clv`, against an independent fit here.

The independent side shares no code with crmreport.clv: the per-customer summary is built
from the raw file (pandas for CDNOW; the csv-module reading and net-revenue rules of
tests/features/test_net_revenue_online_retail.py for Online Retail), and the BG/NBD
log-likelihood (Fader, Hardie and Lee 2005, equation 6) is written out below and maximised
with scipy.optimize on log-parameters. Time is in weeks of 7 days; a customer's purchase days
are the days before as_of with a purchase (same-day purchases merged); T runs from the first
purchase day to the day before as_of, t_x to the last purchase day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from crmreport.cli import main
from tests.features.test_net_revenue_online_retail import _invoices, _reversed

DATA = Path(__file__).parent / "data"
CDNOW = DATA / "cdnow"
RETAIL = DATA / "online_retail"
RTOL = 1e-3
NO_DROPOUT = 1e-4  # mean dropout chance a/(a+b) below this: no dropout found


def bgnbd_log_likelihood(log_params: np.ndarray, x: np.ndarray, tx: np.ndarray,
                         T: np.ndarray, weight: np.ndarray) -> float:
    """Sum over customers (``weight`` of each (x, t_x, T) row) of the BG/NBD log-likelihood."""
    r, alpha, a, b = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = (np.log(a) - np.log(b + x[repeat] - 1)
                       - (r + x[repeat]) * np.log(alpha + tx[repeat]))
    return float(np.sum(weight * (common + np.logaddexp(still_alive, dropped))))


def fit_bgnbd(summary: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Maximum-likelihood (r, alpha, a, b) and the log-likelihood at it, for a summary with
    columns x, tx, T (one row per customer)."""
    grouped = summary.groupby(["x", "tx", "T"]).size().reset_index(name="n")
    args = tuple(grouped[c].to_numpy(dtype=float) for c in ("x", "tx", "T", "n"))

    def objective(p: np.ndarray) -> float:
        return -bgnbd_log_likelihood(p, *args) / len(summary)

    start = np.zeros(4)
    first = minimize(objective, start, method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000,
                              "maxfev": 40000})
    best = minimize(objective, first.x, method="BFGS", options={"gtol": 1e-10})
    p = best.x if best.fun <= first.fun else first.x
    r, alpha, a, b = np.exp(p)
    return ({"r": r, "alpha": alpha, "a": a, "b": b},
            bgnbd_log_likelihood(p, *args))


def _summary(days: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """x, tx, T (weeks) per customer from (customer, day) rows, one per purchase day."""
    days = days[days["day"] < pd.Timestamp(as_of)]
    last_day = pd.Timestamp(as_of - dt.timedelta(days=1))
    per = days.groupby("customer")["day"].agg(["min", "max", "size"])
    return pd.DataFrame({
        "x": per["size"] - 1,
        "tx": (per["max"] - per["min"]).dt.days / 7.0,
        "T": (last_day - per["min"]).dt.days / 7.0,
    })


def _cli(campaign: Path, tmp_path: Path) -> dict[str, object]:
    result = CliRunner().invoke(main, ["clv", str(campaign), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    out: dict[str, object] = json.loads(result.stdout)
    return out


def _compare(got: dict[str, object], summary: pd.DataFrame) -> None:
    params, ll = fit_bgnbd(summary)
    assert got["model"] == "bgnbd"
    assert got["customers"] == len(summary)
    assert got["repeat_buyers"] == int((summary["x"] > 0).sum())
    fitted = got["bgnbd"]
    assert isinstance(fitted, dict)
    names = ["r", "alpha", "a", "b"]
    if params["a"] / (params["a"] + params["b"]) < NO_DROPOUT:
        # The data show no dropout: the likelihood is flat along a -> 0 (b anywhere large),
        # so a and b are not identified; only that the dropout chance is ~0 is, in both fits.
        assert fitted["a"] / (fitted["a"] + fitted["b"]) < NO_DROPOUT
        names = ["r", "alpha"]
    for name in names:
        assert fitted[name] == pytest.approx(params[name], rel=RTOL), name
    assert got["log_likelihood"] == pytest.approx(ll, rel=RTOL)


def test_cdnow_master_39_weeks_bgnbd_matches_an_independent_fit(tmp_path: Path) -> None:
    raw = pd.read_csv(CDNOW / "CDNOW_master.txt.gz", sep=r"\s+",
                      dtype={"customer_id": str, "date": str})
    days = pd.DataFrame({"customer": raw["customer_id"],
                         "day": pd.to_datetime(raw["date"], format="%Y%m%d")}).drop_duplicates()
    summary = _summary(days, dt.date(1997, 10, 1))
    got = _cli(CDNOW / "campaign_39w.yaml", tmp_path)
    _compare(got, summary)
    # every customer first bought in 1997-Q1, so all 23,570 are in the calibration period
    assert len(summary) == 23570


def test_online_retail_bgnbd_matches_an_independent_fit_on_net_purchase_days(
        tmp_path: Path) -> None:
    """Purchase days under the net-revenue rule: a day with a purchase that no credit note
    cancelled in full, and whose net amount (with that day's credit notes) is not negative."""
    rows = []
    for cid, customer in _invoices().items():
        gone = _reversed(customer)
        day_total: dict[str, Decimal] = defaultdict(Decimal)
        for day, _, _, invoice, amount in customer.invoices:
            if invoice not in gone:
                day_total[day] += amount
        bought = {d for d, credit, _, i, _ in customer.invoices
                  if not credit and i not in gone and day_total[d] >= 0}
        rows += [(cid, d) for d in bought]
    days = pd.DataFrame(rows, columns=["customer", "day"])
    days["day"] = pd.to_datetime(days["day"])
    summary = _summary(days, dt.date(2011, 12, 10))
    got = _cli(RETAIL / "campaign.yaml", tmp_path)
    _compare(got, summary)
    # BG/NBD finds no dropout here (a -> 0): the CLI says so instead of reporting P(alive)
    assert "no dropout" in str(got["btyd_note"])
