"""Shared CDNOW fixtures: the published set-up of Fader, Hardie and Lee (2005)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crmreport.clv import BGNBD, GammaGamma, summarise_transactions

CDNOW = Path(__file__).parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = "1997-10-01"  # after week 39; T = (1997-09-30 - first purchase) / 7
HOLDOUT_END = "1998-07-01"  # after week 78


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    df = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "amount"],
        dtype={"date": str},
    )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


@pytest.fixture(scope="session")
def cdnow_summary(cdnow: pd.DataFrame) -> pd.DataFrame:
    return summarise_transactions(cdnow, "customer", "date", "amount", CALIBRATION_END, unit="W")


@pytest.fixture(scope="session")
def cdnow_bgnbd(cdnow_summary: pd.DataFrame) -> BGNBD:
    s = cdnow_summary
    return BGNBD().fit(s["frequency"], s["recency"], s["T"])


@pytest.fixture(scope="session")
def cdnow_gg(cdnow_summary: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(cdnow_summary["frequency"], cdnow_summary["monetary"])
