import dataclasses
import datetime as dt
from collections import defaultdict
from pathlib import Path

import duckdb

from crmreport.features.net_orders import classify_orders
from crmreport.features.value_models import ValueModel, fit_value_models
from crmreport.monitor.value_summary import HOLDOUT_WEEKS, value_summary
from crmreport.tables import ORDERS

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
AS_OF = dt.date(1998, 7, 1)  # the end of the 78 weeks of CDNOW data


def _cdnow() -> tuple[duckdb.DuckDBPyConnection, list[tuple[str, dt.date]]]:
    rows = []
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, dollars = line.split()
        rows.append((customer, dt.datetime.strptime(day, "%Y%m%d").date(), float(dollars)))
    con = duckdb.connect()
    con.execute(ORDERS.create())
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?, ?, 'completed')",
                    [(f"O{i}", c, d, a) for i, (c, d, a) in enumerate(rows)])
    classify_orders(con)
    return con, [(c, d) for c, d, _ in rows]


def test_holdout_check_counts_actual_purchases_independently() -> None:
    con, purchases = _cdnow()
    model = fit_value_models(con, AS_OF)
    con.execute("CREATE TABLE assignments AS SELECT f.*, 'all' AS segment FROM customer_value f")
    summary = value_summary(con, AS_OF, model)
    end = AS_OF - dt.timedelta(weeks=HOLDOUT_WEEKS)
    days: dict[str, set[dt.date]] = defaultdict(set)
    for customer, day in purchases:
        days[customer].add(day)
    before = {c: sorted(d for d in ds if d < end) for c, ds in days.items()}
    one_timers = [c for c, ds in before.items() if len(ds) == 1]
    later = sum(len([d for d in days[c] if end <= d < AS_OF]) for c in one_timers)
    row = summary.fit[summary.fit["calibration_frequency"] == "0"].iloc[0]
    assert row["customers"] == len(one_timers)
    assert abs(row["actual"] - later / len(one_timers)) < 1e-12
    assert summary.fit["customers"].sum() == sum(1 for ds in before.values() if ds)
    assert summary.customers == 2357 and summary.equity and summary.equity > 0
    assert summary.distribution["customers"].sum() == 2357


def test_the_report_reuses_the_verdicts_holdout_chart_which_is_the_one_fitted_anew() -> None:
    # the BG/NBD verdict's calibration fit makes the chart; without it one is fitted here
    con, _ = _cdnow()
    model = fit_value_models(con, AS_OF, holdout_chart=True)
    con.execute("CREATE TABLE assignments AS SELECT f.*, 'all' AS segment FROM customer_value f")
    assert model.by_frequency is not None and model.by_frequency.table is not None
    made = value_summary(con, AS_OF, model)
    assert made.fit is model.by_frequency.table  # reused, not fitted again
    anew = value_summary(con, AS_OF, dataclasses.replace(model, by_frequency=None))
    assert made.fit.equals(anew.fit) and len(made.fit) == 8
    assert made.fit_reason is anew.fit_reason is None


def test_a_report_as_of_another_day_fits_its_own_holdout_chart() -> None:
    con, purchases = _cdnow()
    model = fit_value_models(con, AS_OF, holdout_chart=True)
    con.execute("CREATE TABLE assignments AS SELECT f.*, 'all' AS segment FROM customer_value f")
    earlier = AS_OF - dt.timedelta(weeks=13)
    summary = value_summary(con, earlier, model)
    end = earlier - dt.timedelta(weeks=HOLDOUT_WEEKS)
    days: dict[str, set[dt.date]] = defaultdict(set)
    for customer, day in purchases:
        if day < end:
            days[customer].add(day)
    one_timers = sum(1 for ds in days.values() if len(ds) == 1)
    assert one_timers == 1411  # 1318 at AS_OF's end: a different chart
    row = summary.fit[summary.fit["calibration_frequency"] == "0"].iloc[0]
    assert row["customers"] == one_timers and summary.fit["customers"].sum() == len(days)


def test_unavailable_model_gives_its_reason() -> None:
    summary = value_summary(duckdb.connect(), AS_OF, ValueModel(reason="only 3 repeat buyers"))
    assert summary.reason == "only 3 repeat buyers" and summary.fit.empty
