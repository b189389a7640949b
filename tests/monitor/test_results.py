"""Campaign results on a fixture small enough to count by hand; scipy recomputes the
intervals from the raw per-customer revenue."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.response import uplift
from crmreport.monitor.results import _variant_tests, campaign_results
from crmreport.tables import CONTACTS, ORDERS

D0 = dt.date(2026, 1, 10)
AS_OF = dt.date(2026, 3, 1)
COSTS = {"email": 0.5, "letter": 1.0}

# customer: (group, channel, segment, variant)
CUSTOMERS = {
    "t0": ("treatment", "email", "vip", "A"),
    "t1": ("treatment", "email", "vip", "B"),
    "t2": ("treatment", "letter", "lapsed", "A"),
    "t3": ("treatment", "letter", "lapsed", "B"),
    "c0": ("control", "email", "vip", "A"),
    "c1": ("control", "letter", "lapsed", "B"),
    "c2": ("control", "email", "vip", "A"),
}
# (customer, day relative to the contact, amount, order channel)
ORDERS_ = [
    ("t0", 5, "20.00", "online"), ("t0", -10, "50.00", "online"),
    ("t1", 3, "30.00", "store"),  # a store purchase after an email is a response
    ("t2", -100, "10.00", "store"),
    ("t3", 10, "40.00", "online"), ("t3", 12, "10.00", "store"),
    ("c0", 2, "8.00", "online"), ("c0", -20, "100.00", "store"),
    ("c2", -400, "70.00", "online"),  # before the pre-period: no covariate
]
# per customer in CUSTOMERS order: window revenue, orders, pre-period revenue
REVENUE = {"t0": 20, "t1": 30, "t2": 0, "t3": 50, "c0": 8, "c1": 0, "c2": 0}
PRE = {"t0": 50, "t1": 0, "t2": 10, "t3": 0, "c0": 100, "c1": 0, "c2": 0}


@pytest.fixture()
def con():
    con = duckdb.connect()
    for table in (ORDERS, CONTACTS):
        columns = ", ".join(f"{c} {t}" for c, t in table.columns.items())
        con.execute(f"CREATE TABLE {table} ({columns})")
    for cid, (group, channel, segment, variant) in CUSTOMERS.items():
        con.execute("INSERT INTO contacts (run_id, campaign, customer_id, contacted_at, channel,"
                    " segment, offer, variant, test_group) VALUES ('r1', 'spring', ?, ?, ?, ?,"
                    " 'o1', ?, ?)", [cid, D0, channel, segment, variant, group])
    for i, (cid, days, amount, channel) in enumerate(ORDERS_):
        con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status,"
                    " channel) VALUES (?, ?, ?, ?, 'completed', ?)",
                    [f"o{i}", cid, D0 + dt.timedelta(days=days), amount, channel])
    classify_orders(con)
    return con


def _arrays(ids, values):
    return np.array([values[i] for i in ids], dtype=float)


def test_total_row_by_hand(con):
    res = campaign_results(con, 30, COSTS, AS_OF, margin=0.4)
    total = res.rows[res.rows["dimension"] == "total"].iloc[0]
    assert (total.contacted, total.responders_t, total.control, total.responders_c) == (
        4, 3, 3, 1)
    assert total.rate_t == pytest.approx(0.75) and total.rate_c == pytest.approx(1 / 3)
    assert total.uplift_abs == pytest.approx(0.75 - 1 / 3)
    assert total.ci_low == pytest.approx(uplift(4, 3, 3, 1).ci_low)
    # incremental revenue: (25 - 8/3) per treated customer x 4
    assert total.rev_t == pytest.approx(25.0) and total.rev_c == pytest.approx(8 / 3)
    assert total.incremental_revenue == pytest.approx((25 - 8 / 3) * 4)
    t_ids, c_ids = ["t0", "t1", "t2", "t3"], ["c0", "c1", "c2"]
    ref = stats.ttest_ind(_arrays(t_ids, REVENUE), _arrays(c_ids, REVENUE), equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert (total.inc_low, total.inc_high) == pytest.approx((4 * low, 4 * high))
    # cost 2 emails x 0.5 + 2 letters x 1.0; 1 + 1 + 0 + 2 orders vs 1 + 0 + 0
    assert total.cost == pytest.approx(3.0) and not total.cost_negligible
    assert total.incremental_orders == pytest.approx((1.0 - 1 / 3) * 4)
    assert total.revenue_per_cost == pytest.approx((25 - 8 / 3) * 4 / 3)
    assert total.margin_per_cost == pytest.approx(0.4 * (25 - 8 / 3) * 4 / 3)
    assert total.cost_per_order == pytest.approx(3.0 / ((1.0 - 1 / 3) * 4))


def test_cuped_uses_pre_period_revenue(con):
    res = campaign_results(con, 30, COSTS, AS_OF)
    total = res.rows[res.rows["dimension"] == "total"].iloc[0]
    ids = list(CUSTOMERS)
    y, x = _arrays(ids, REVENUE), _arrays(ids, PRE)
    treated = np.array([CUSTOMERS[i][0] == "treatment" for i in ids])
    theta = np.polyfit(x, y, 1)[0]
    adjusted = y - theta * (x - x.mean())
    expected = (adjusted[treated].mean() - adjusted[~treated].mean()) * 4
    assert total.cuped_revenue == pytest.approx(expected)
    assert total.margin_per_cost is None or pd.isna(total.margin_per_cost)  # no margin given


def test_levels_per_dimension(con):
    rows = campaign_results(con, 30, COSTS, AS_OF).rows
    assert set(rows["dimension"]) == {"total", "segment", "channel"}  # one offer
    vip = rows[(rows["dimension"] == "segment") & (rows["level"] == "vip")].iloc[0]
    assert (vip.contacted, vip.responders_t, vip.control, vip.responders_c) == (2, 2, 2, 1)
    for dim in ("segment", "channel"):
        part = rows[rows["dimension"] == dim]
        assert part["contacted"].sum() == 4 and part["responders_c"].sum() == 1


def test_revenue_split_by_order_channel(con):
    split = campaign_results(con, 30, COSTS, AS_OF).order_channels
    overall = split[split["contact_channel"].isna()].set_index("order_channel")
    assert overall.loc["online", "incremental_revenue"] == pytest.approx((15 - 8 / 3) * 4)
    assert overall.loc["store", "incremental_revenue"] == pytest.approx(10 * 4)
    assert (overall.loc["store", "buyers_t"], overall.loc["store", "buyers_c"]) == (2, 0)
    letter = split[split["contact_channel"] == "letter"].set_index("order_channel")
    # letters: t2 nothing, t3 40 online + 10 store; control c1 nothing
    assert letter.loc["store", "incremental_revenue"] == pytest.approx(5.0 * 2)


def test_return_hidden_where_cost_is_negligible(con):
    res = campaign_results(con, 30, {"email": 0.002, "letter": 0.002}, AS_OF)
    total = res.rows[res.rows["dimension"] == "total"].iloc[0]
    assert total.cost == pytest.approx(0.008) and total.cost_negligible
    assert total.revenue_per_cost is None and total.cost_per_order is None
    # 3 units: at least 1 unit and 1% of the treated revenue of 100
    shown = campaign_results(con, 30, {"email": 0.5, "letter": 1.0}, AS_OF)
    assert not shown.rows.iloc[0].cost_negligible
    # 0.5 units is under 1 unit, though 0.5% of the revenue
    small = campaign_results(con, 30, {"email": 0.25, "letter": 0.0}, AS_OF)
    assert small.rows.iloc[0].cost_negligible


def test_variant_tests_by_hand(con):
    res = campaign_results(con, 30, COSTS, AS_OF)
    comp = res.comparisons.set_index(["first", "second"])
    # A: t0 yes, t2 no -> 1/2; B: t1, t3 -> 2/2; control of the offer: 1/3
    raw = {("A", "B"): [[1, 1], [2, 0]], ("A", "control"): [[1, 1], [1, 2]],
           ("B", "control"): [[2, 0], [1, 2]]}
    p = {k: stats.chi2_contingency(v, correction=False).pvalue for k, v in raw.items()}
    for key, value in p.items():
        assert comp.loc[key, "p_value"] == pytest.approx(value)
    order = sorted(p, key=p.get)
    expected = {}
    running = 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * p[key]))
        expected[key] = running
    for key, value in expected.items():
        assert comp.loc[key, "p_holm"] == pytest.approx(value)
    assert set(res.variants["verdict"]) == {"no_winner"}
    a = res.variants.set_index("variant").loc["A"]
    assert (a.contacted, a.responders_t, a.control, a.responders_c) == (2, 1, 2, 1)


def test_a_clear_winner_is_named():
    def arm(variant, treated, n, x):
        return pd.DataFrame({"variant": variant, "treated": treated,
                             "responded": [True] * x + [False] * (n - x)})
    part = pd.concat([arm("A", True, 1000, 300), arm("B", True, 1000, 100),
                      arm("C", True, 1000, 110), arm("A", False, 300, 30),
                      arm("B", False, 300, 30)], ignore_index=True)
    variants, comparisons = _variant_tests(part)
    verdicts = {v["variant"]: v["verdict"] for v in variants}
    assert verdicts == {"A": "winner", "B": "lost", "C": "lost"}
    assert len(comparisons) == 6  # 3 pairs of variants + 3 against control
    # without A, B and C are too close: no winner, and the size that would tell them apart
    variants, _ = _variant_tests(part[part["variant"] != "A"])
    assert {v["verdict"] for v in variants} == {"no_winner"}
    assert variants[0]["needed_per_group"] > 1000


def test_as_dict_is_json_ready(con):
    import json

    data = campaign_results(con, 30, COSTS, AS_OF).as_dict()
    text = json.dumps(data)
    assert data["rows"][0]["suppressed"] == [] and "NaN" not in text
