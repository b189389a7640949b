import datetime as dt
from pathlib import Path

import duckdb
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.features.value_models import (
    HOLDOUT_WEEKS,
    fit_value_models,
    summaries,
    summary_sql,
)
from crmreport.tables import ORDERS

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"


def _orders(rows: list[tuple[str, dt.date, float]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(ORDERS.create())
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, status) "
                    "VALUES (?, ?, ?, ?, 'completed')",
                    [(f"O{i}", c, d, a) for i, (c, d, a) in enumerate(rows)])
    classify_orders(con)
    return con


def _cdnow() -> duckdb.DuckDBPyConnection:
    rows = []
    for line in CDNOW.read_text().splitlines():
        _, customer, day, _, dollars = line.split()
        rows.append((customer, dt.datetime.strptime(day, "%Y%m%d").date(), float(dollars)))
    return _orders(rows)


def test_summary_by_hand() -> None:
    con = _orders([("A", dt.date(2026, 1, 1), 10), ("A", dt.date(2026, 1, 1), 5),
                   ("A", dt.date(2026, 1, 15), 30), ("A", dt.date(2026, 1, 29), 50),
                   ("B", dt.date(2026, 2, 27), 20)])
    rows = con.execute(summary_sql("DATE '2026-03-01'")).fetchall()
    # A: 3 purchase days (same day merged) -> 2 repeats over 4 weeks, T = 58 days / 7
    assert rows[0] == ("A", 2, 4.0, pytest.approx(58 / 7), 40.0)
    assert rows[1] == ("B", 0, 0.0, pytest.approx(1 / 7), 0.0)


def test_sql_summary_reproduces_the_published_cdnow_fits() -> None:
    con = _cdnow()
    # 39-week calibration from 1997-01-01: the last observed day is 1997-09-30
    model = fit_value_models(con, dt.date(1997, 10, 1))
    assert model.customers == 2357 and model.repeat_buyers == 946
    assert model.by_frequency is None  # the report's holdout chart only when it is asked for
    r, alpha, a, b = (model.bgnbd[k] for k in ("r", "alpha", "a", "b"))
    assert (round(r, 3), round(alpha, 3), round(a, 3), round(b, 3)) == (0.243, 4.414, 0.793,
                                                                          2.426)
    assert round(model.log_likelihood or 0, 1) == -9582.4
    p, q, gamma = (model.gammagamma[k] for k in ("p", "q", "gamma"))
    assert (round(p, 2), round(q, 2), round(gamma, 2)) == (6.25, 3.74, 15.44)
    bad = con.execute("SELECT count(*) FROM customer_value WHERE NOT (p_alive BETWEEN 0 AND 1) "
                      "OR clv_52w < 0 OR clv_52w IS NULL OR isnan(clv_52w)").fetchone()
    assert bad == (0,)


def test_too_little_data_gives_a_reason_and_null_values() -> None:
    con = _orders([("A", dt.date(2026, 1, 1), 10), ("A", dt.date(2026, 1, 9), 10)])
    model = fit_value_models(con, dt.date(2026, 3, 1))
    assert not model.available and "repeat buyers" in (model.reason or "")
    assert con.execute("SELECT p_alive, clv_52w FROM customer_value").fetchall() == [
        (None, None)]


def test_a_model_that_predicts_no_finite_value_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crmreport.clv import BGNBD

    rows = [(f"C{i}", dt.date(2026, 1, 1) + dt.timedelta(days=i % 30), 10.0) for i in range(60)]
    rows += [(f"C{i}", dt.date(2026, 2, 1) + dt.timedelta(days=i % 20), 5.0 + (i * 37) % 50)
             for i in range(40)]
    con = _orders(rows)
    monkeypatch.setattr(BGNBD, "conditional_expected_purchases",
                        lambda self, t, x, tx, T: x * float("nan"))
    model = fit_value_models(con, dt.date(2026, 3, 1))
    assert not model.available and "no finite" in (model.reason or "")
    assert con.execute("SELECT count(*) FROM customer_value WHERE clv_52w IS NOT NULL"
                       ).fetchall() == [(0,)]


def test_sql_and_python_api_read_the_as_of_day_alike() -> None:
    import pandas as pd

    from crmreport.clv import summarise_transactions

    rows = [("A", dt.date(2026, 1, 1), 10), ("A", dt.date(2026, 2, 1), 30),
            ("A", dt.date(2026, 3, 1), 99),  # ON the as-of day: seen by neither
            ("B", dt.date(2026, 2, 28), 20), ("C", dt.date(2026, 3, 1), 5)]
    sql = {r[0]: r[1:] for r in _orders(rows).execute(summary_sql("DATE '2026-03-01'")).fetchall()}
    log = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    api = summarise_transactions(log, "customer_id", "order_date", "amount", as_of="2026-03-01")
    assert set(sql) == set(api.index) == {"A", "B"}
    for cid, (x, recency, t, m) in sql.items():
        assert (x, recency, t, m) == pytest.approx(tuple(api.loc[cid]))
    assert sql["A"] == (1, pytest.approx(31 / 7), pytest.approx(58 / 7), 30.0)


def test_summary_leaves_out_credit_note_days_and_days_with_a_negative_net() -> None:
    con = _orders([
        ("A", dt.date(2026, 1, 1), 10), ("A", dt.date(2026, 1, 10), -3),  # a credit-only day
        ("A", dt.date(2026, 1, 15), 30),
        ("B", dt.date(2026, 2, 1), -5),  # credit notes only: no buyer
        ("C", dt.date(2026, 2, 27), 20),  # one purchase day
        ("D", dt.date(2026, 1, 20), 10), ("D", dt.date(2026, 1, 20), -15),  # net below 0
        ("D", dt.date(2026, 2, 1), 20),
    ])
    rows = con.execute(summary_sql("DATE '2026-03-01'")).fetchall()
    # by hand: A's purchase days are 1 and 15 January (1 repeat, 2 weeks apart, its repeat
    # day worth 30); D's only purchase day is 1 February; T counts to 28 February
    assert rows == [("A", 1, 2.0, pytest.approx(58 / 7), 30.0),
                    ("C", 0, 0.0, pytest.approx(1 / 7), 0.0),
                    ("D", 0, 0.0, pytest.approx(27 / 7), 0.0)]


def _by_macro(con: duckdb.DuckDBPyConnection, end: dt.date,
              holdout_end: dt.date | None = None) -> dict[str, list[float]]:
    """The summary from the ``purchase_days`` macro, per customer by hand in Python."""
    days: dict[str, list[tuple[dt.date, float]]] = {}
    for customer, day, amount in con.execute(
            f"SELECT * FROM purchase_days(DATE '{end}') ORDER BY ALL").fetchall():
        days.setdefault(customer, []).append((day, float(amount)))
    later: dict[str, int] = {}
    if holdout_end:
        for (customer,) in con.execute(f"SELECT customer_id FROM purchase_days("
                                       f"DATE '{holdout_end}') WHERE order_date >= ?",
                                       [end]).fetchall():
            later[customer] = later.get(customer, 0) + 1
    summary = {}
    for customer, seen in days.items():
        first, last, x = seen[0][0], seen[-1][0], len(seen) - 1
        summary[customer] = [x, (last - first).days / 7, ((end - first).days - 1) / 7,
                             sum(a for _, a in seen[1:]) / x if x else 0.0,
                             *([later.get(customer, 0)] if holdout_end else [])]
    return summary


def _same(got: dict[str, list[float]], want: dict[str, list[float]]) -> None:
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k], abs=1e-9) for k in got)


def test_the_summary_and_calibration_from_one_scan_agree_with_the_purchase_days() -> None:
    con = _cdnow()
    as_of = dt.date(1998, 7, 1)
    end = as_of - dt.timedelta(weeks=HOLDOUT_WEEKS)
    # Credit notes reversing a customer's first order: after the calibration end (a purchase
    # then, none by as_of), before it, and one partial refund, on days with a purchase or not.
    for digit, day, share in (("7", end + dt.timedelta(days=10), 1), ("3", end, 1),
                              ("5", end - dt.timedelta(days=40), 0.5)):
        con.execute("""INSERT INTO orders (order_id, customer_id, order_date, amount, status)
            SELECT 'R' || customer_id, customer_id, ?, -arg_min(amount, order_id) * ?,
                   'completed'
            FROM orders WHERE customer_id LIKE ? AND amount > 0 GROUP BY customer_id""",
                    [day, share, f"%{digit}"])
    classify_orders(con)
    summary, calibration = summaries(con, as_of)
    got = {c: [x, tx, t, m] for c, x, tx, t, m in zip(
        *(summary[k].tolist() for k in ("customer_id", "repeat_purchase_days", "recency", "T",
                                        "monetary")), strict=True)}
    _same(got, _by_macro(con, as_of))
    ids = con.execute(f"SELECT DISTINCT customer_id FROM purchase_days(DATE '{end}') "
                      "ORDER BY 1").fetchall()
    columns = ("frequency", "recency", "T", "frequency_holdout")
    got = {c: values for (c,), *values in zip(
        ids, *(calibration[k].tolist() for k in columns), strict=True)}
    _same(got, {c: v[:3] + v[4:] for c, v in _by_macro(con, end, as_of).items()})  # no spend
    assert sum(v[-1] for v in got.values()) > 100 and len(got) > 1000
