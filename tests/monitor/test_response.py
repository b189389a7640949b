import datetime as dt
import math

import duckdb
import pandas as pd
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.response import response_table, response_tables, uplift
from crmreport.tables import CONTACTS, ORDERS

D0 = dt.date(2026, 3, 1)


def _tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in (ORDERS, CONTACTS):
        columns = ", ".join(f"{c} {t}" for c, t in table.columns.items())
        con.execute(f"CREATE TABLE {table} ({columns})")


def _response_table(con, *args, **kwargs):
    classify_orders(con)  # what features does in a run
    return response_table(con, *args, **kwargs)


def test_uplift_matches_hand_computation():
    u = uplift(10, 4, 10, 1)
    assert u.absolute == pytest.approx(0.30)
    assert u.relative == pytest.approx(3.0)
    # Wilson bounds by hand: 4/10 -> [0.168177, 0.687337], 1/10 -> [0.017876, 0.404150]
    low = 0.30 - math.hypot(0.4 - 0.168177, 0.404150 - 0.1)
    high = 0.30 + math.hypot(0.687337 - 0.4, 0.1 - 0.017876)
    assert u.ci_low == pytest.approx(low, abs=5e-5) and u.ci_high == pytest.approx(high, abs=5e-5)
    pooled = 5 / 20
    z = 0.30 / math.sqrt(pooled * (1 - pooled) * (1 / 10 + 1 / 10))
    assert u.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))


@pytest.mark.parametrize(
    ("counts", "published"),
    [((70, 56, 80, 48), (0.0524, 0.3339)), ((10, 9, 10, 3), (0.1705, 0.8090))],
)
def test_interval_reproduces_newcombe_1998(counts, published):
    # Newcombe, "Interval estimation for the difference between independent proportions",
    # Statistics in Medicine 17 (1998), method 10, examples (a) and (b)
    u = uplift(*counts)
    assert (round(u.ci_low, 4), round(u.ci_high, 4)) == published


def test_interval_agrees_with_the_test_when_a_group_has_no_responders():
    u = uplift(1000, 50, 20, 0)
    assert u.p_value > 0.05 and u.ci_low < 0 < u.ci_high  # Wald would say [3.6; 6.4] pp


def test_uplift_edge_cases():
    assert uplift(10, 3, 10, 0).relative is None
    assert uplift(10, 0, 10, 0).p_value is None
    with pytest.raises(ValueError):
        uplift(0, 0, 10, 1)


def _contact(con, cid, group, channel="email", segment="vip", day=D0):
    con.execute(
        "INSERT INTO contacts (run_id, campaign, customer_id, contacted_at, channel, segment,"
        " test_group) VALUES ('r1', 'spring', ?, ?, ?, ?, ?)",
        [cid, day, channel, segment, group],
    )


def _order(con, oid, cid, days, amount, status="completed"):
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount, status)"
        " VALUES (?, ?, ?, ?, ?)",
        [oid, cid, D0 + dt.timedelta(days=days), amount, status],
    )


@pytest.fixture()
def con():
    con = duckdb.connect()
    _tables(con)
    for i in range(4):
        _contact(con, f"t{i}", "treatment")
    for i in range(2):
        _contact(con, f"c{i}", "control")
    _order(con, "o1", "t0", 30, "10.00")  # last day of the window: counts
    _order(con, "o1b", "t0", 5, "5.50")  # second order of the same responder
    _order(con, "o2", "t1", 0, "99.00")  # day of contact: not a response
    _order(con, "o3", "t2", 31, "99.00")  # one day late
    _order(con, "o4", "t3", 3, "99.00", status="cancelled")
    _order(con, "o5", "c0", 1, "4.00")
    _order(con, "o6", None, 2, "50.00")  # guest checkout
    return con


def test_response_window_boundaries(con):
    table = _response_table(con, 30, {"email": 0.5})
    assert len(table) == 2  # one detail row, one total
    row = table[~table["is_total"]].iloc[0]
    assert (row.contacted, row.control, row.responders_t, row.responders_c) == (4, 2, 1, 1)
    assert row.rate_t == pytest.approx(0.25) and row.rate_c == pytest.approx(0.5)
    assert row.rev_per_contact_t == pytest.approx(15.5 / 4)
    assert row.rev_per_contact_c == pytest.approx(2.0)
    assert row.incremental_revenue == pytest.approx((15.5 / 4 - 2.0) * 4)
    assert row.cost == pytest.approx(2.0)
    assert row.roi == pytest.approx(((15.5 / 4 - 2.0) * 4 - 2.0) / 2.0)


def test_total_row_sums_channels(con):
    _contact(con, "t9", "treatment", channel="letter", segment="lapsed")
    table = _response_table(con, 30, {"email": 0.5, "letter": 1.0})
    total = table[table["is_total"]].iloc[0]
    assert pd.isna(total.segment) and pd.isna(total.channel)
    assert total.contacted == 5 and total.cost == pytest.approx(3.0)
    assert list(table["is_total"]) == [False, False, True]


def test_only_first_contact_per_campaign_counts(con):
    _contact(con, "t0", "treatment", day=D0 + dt.timedelta(days=10))
    row = _response_table(con, 30, {})
    assert row[~row["is_total"]].iloc[0].contacted == 4
    assert pd.isna(row.iloc[0].roi)  # no cost known


def test_campaigns_still_inside_their_window_are_not_measured(con):
    # contacted D0 with a 30-day window: fully observed only from D0 + 31 on
    assert _response_table(con, 30, {}, as_of=D0 + dt.timedelta(days=30)).empty
    measured = _response_table(con, 30, {}, as_of=D0 + dt.timedelta(days=31))
    assert measured.loc[measured["is_total"], "contacted"].item() == 4


def test_several_days_in_one_query_each_as_known_on_its_day(con):
    _order(con, "r1", "t0", 40, "-10.00")  # reverses o1 (day 30): known from day 41 on
    classify_orders(con)
    days = [D0 + dt.timedelta(days=n) for n in (30, 35, 45)]
    inside, before, after = response_tables(con, 30, {}, days)
    assert inside.empty  # no window had closed
    before, after = (table[table["is_total"]].iloc[0] for table in (before, after))
    assert before.rev_per_contact_t == pytest.approx(15.5 / 4)
    assert after.rev_per_contact_t == pytest.approx(5.5 / 4)  # o1 reversed
    assert (after.responders_t, after.responders_c) == (1, 1)  # t0 still bought o1b
    for day, table in zip(days, response_tables(con, 30, {}, days), strict=True):
        pd.testing.assert_frame_equal(table, response_table(con, 30, {}, day))


def test_no_roi_over_a_negligible_cost(con):
    # 4 emails at 0.002 cost 0.008: under 1 currency unit, so no ROI of some 100,000%
    row = _response_table(con, 30, {"email": 0.002})
    assert row.iloc[0].cost == pytest.approx(0.008) and pd.isna(row.iloc[0].roi)
    # 4 x 0.3 = 1.2 is at least 1 unit but under 1% of revenue 150: still none
    _order(con, "o7", "t1", 4, "134.50")
    row = _response_table(con, 30, {"email": 0.3})
    assert pd.isna(row.iloc[0].roi)
