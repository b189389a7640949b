"""Cohorts on the CDNOW master file (orders 1997-01 .. 1998-06) read through the ``cdnow``
preset, with an as-of date long after the data, against pandas on the raw file."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pandas as pd
import pytest

from crmreport.engine import connect
from crmreport.features.net_orders import classify_orders
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources
from crmreport.monitor.retention import cohort_matrix, retention_curve

MASTER = Path(__file__).parents[1] / "data" / "cdnow" / "CDNOW_master.txt.gz"
AS_OF = dt.date(1999, 1, 1)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("cdnow") / "CDNOW_master.txt"
    path.write_bytes(gzip.decompress(MASTER.read_bytes()))
    con = connect()
    identify_tables(con, load_sources(con, [SourceFile("orders", path, "cdnow")]), "USD")
    classify_orders(con)
    return cohort_matrix(con, AS_OF, 13)  # 13 months showed "No data" before the window fit


def _expected() -> dict[tuple[dt.date, dt.date], tuple[int, int]]:
    """(cohort, month) -> (cohort size, customers buying that month), every month of the data
    from the cohort on."""
    raw = pd.read_csv(MASTER, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["month"] = pd.to_datetime(raw["date"], format="%Y%m%d").dt.to_period("M")
    raw["cohort"] = raw.groupby("customer_id")["month"].transform("min")
    sizes = raw.groupby("cohort")["customer_id"].nunique()
    active = raw.groupby(["cohort", "month"])["customer_id"].nunique()
    months = pd.period_range("1997-01", "1998-06", freq="M")
    return {(c.to_timestamp().date(), m.to_timestamp().date()):
            (int(sizes[c]), int(active.get((c, m), 0)))
            for c in sizes.index for m in months if m >= c}


def test_cdnow_cohorts_match_pandas_on_the_raw_file(matrix: pd.DataFrame) -> None:
    got = {(r.cohort, r.month): (r.cohort_size, r.active) for r in matrix.itertuples()}
    expected = _expected()
    # CDNOW's customers all first bought in 1997-01 .. 03: three cohorts, 18 + 17 + 16 months
    assert len(expected) == 18 + 17 + 16
    assert got == expected
    assert matrix["complete"].all()


def test_cdnow_window_is_the_data_and_its_first_month_is_left_censored(
        matrix: pd.DataFrame) -> None:
    assert min(matrix["cohort"]) == dt.date(1997, 1, 1)
    assert max(matrix["month"]) == dt.date(1998, 6, 1)  # not 1998-12: no orders after June
    censored = set(matrix.loc[matrix["left_censored"].astype(bool), "cohort"])
    assert censored == {dt.date(1997, 1, 1)}
    curve = retention_curve(matrix).set_index("k")
    later = matrix[matrix["cohort"] > dt.date(1997, 1, 1)]
    month1 = later[later["k"] == 1]
    assert curve.loc[1, "retention"] == pytest.approx(
        month1["active"].sum() / month1["cohort_size"].sum())
