"""Segment migration between two dates, counted by hand on a small fixture."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.retention import segment_migration
from crmreport.report.format import SUPPRESSED
from crmreport.report.results import suppress_migration
from crmreport.tables import ORDERS

NOW = dt.date(2026, 3, 1)
THEN = NOW - dt.timedelta(days=91)

# customer: (segment then, segment now, purchase days before NOW)
PEOPLE = {
    "a": ("vip", "vip", [10, 200]),  # active then and now: retained
    "b": ("vip", "lapsed", [400]),  # active then (309 days before THEN), not now: churned
    "c": ("lapsed", "vip", [20, 600]),  # inactive then, bought before: reactivated
    "d": ("lapsed", "lapsed", [800]),  # inactive at both
    "e": (None, "new", [5]),  # no segment then; first purchase in between: new
}


@pytest.fixture()
def con():
    con = duckdb.connect()
    columns = ", ".join(f"{c} {t}" for c, t in ORDERS.columns.items())
    con.execute(f"CREATE TABLE {ORDERS} ({columns})")
    con.execute("CREATE TABLE assignments (customer_id VARCHAR, segment VARCHAR)")
    con.execute("CREATE TABLE previous_segments (customer_id VARCHAR, segment VARCHAR)")
    for cid, (then, now, days) in PEOPLE.items():
        con.execute("INSERT INTO assignments VALUES (?, ?)", [cid, now])
        if then:
            con.execute("INSERT INTO previous_segments VALUES (?, ?)", [cid, then])
        for i, d in enumerate(days):
            con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status)"
                        " VALUES (?, ?, ?, 10, 'completed')",
                        [f"{cid}{i}", cid, NOW - dt.timedelta(days=d)])
    classify_orders(con)
    return con


def test_matrix_and_flows_by_hand(con):
    m = segment_migration(con, THEN, NOW)
    cells = {(r.from_segment, r.to_segment): r.customers for r in m.matrix.itertuples()}
    assert cells == {("vip", "vip"): 1, ("vip", "lapsed"): 1, ("lapsed", "vip"): 1,
                     ("lapsed", "lapsed"): 1, ("", "new"): 1}
    assert m.flows == {"churned": 1, "reactivated": 1, "new": 1, "retained": 1}
    assert m.as_dict()["flows"]["churned"] == 1


def _determined(matrix: pd.DataFrame, rows: dict, cols: dict) -> list:
    """Hidden cells that the row and column sums (known segment sizes) pin down."""
    hidden = [i for i in matrix.index if matrix.at[i, "customers"] is SUPPRESSED]
    if not hidden:
        return []
    eqs = []
    lines = [("from_segment", k) for k in rows] + [("to_segment", k) for k in cols]
    for column, key in lines:
        eqs.append([1.0 if matrix.at[i, column] == key else 0.0 for i in hidden])
    a = np.array(eqs)
    rank = np.linalg.matrix_rank(a)
    found = []
    for j, i in enumerate(hidden):
        unit = np.zeros(len(hidden))
        unit[j] = 1
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.append(i)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_suppressed_cells_cannot_be_recovered_from_segment_sizes(seed):
    rng = np.random.default_rng(seed)
    segments = ["a", "b", "c", "d", "e"]
    cells = [(f, t, int(rng.choice([0, 2, 5, 9, 15, 40, 120]))) for f in segments
             for t in segments]
    raw = pd.DataFrame([c for c in cells if c[2]], columns=["from_segment", "to_segment",
                                                            "customers"])
    from crmreport.monitor.retention import Migration

    m = suppress_migration(Migration(THEN, NOW, raw, {"churned": 3, "new": 50}), 10)
    assert all(m.matrix.at[i, "customers"] is SUPPRESSED
               for i in raw.index if 0 < raw.at[i, "customers"] < 10)
    rows = raw.groupby("from_segment")["customers"].sum().to_dict()
    cols = raw.groupby("to_segment")["customers"].sum().to_dict()
    assert _determined(m.matrix, rows, cols) == []
    assert m.flows == {"churned": SUPPRESSED, "new": 50}
