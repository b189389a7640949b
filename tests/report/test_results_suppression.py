"""Suppression of the campaign results cannot be undone: an attacker who reads the page
(every shown figure) and knows how the tables add up must not get back any hidden count or
revenue. The attacker here is written apart from the suppression code: it solves the page's
sums as a linear system and tries each formula that links a hidden figure to shown ones."""

import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from crmreport.features.net_orders import classify_orders
from crmreport.monitor.response import uplift
from crmreport.monitor.results import campaign_results
from crmreport.report.format import SUPPRESSED
from crmreport.report.results import suppress_results
from crmreport.tables import CONTACTS, ORDERS

D0 = dt.date(2026, 1, 10)
AS_OF = dt.date(2026, 3, 1)
K = 10


def _data(seed: int, customers: int) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(seed)
    con = duckdb.connect()
    for table in (ORDERS, CONTACTS):
        columns = ", ".join(f"{c} {t}" for c, t in table.columns.items())
        con.execute(f"CREATE TABLE {table} ({columns})")
    contacts, orders = [], []
    for i in range(customers):
        segment = rng.choice(["a", "b", "c", "d"], p=[0.5, 0.3, 0.15, 0.05])
        offer = {"a": "o1", "b": "o1", "c": "o2", "d": "o3"}[segment]
        channel = rng.choice(["email", "letter"], p=[0.7, 0.3])
        variant = rng.choice(["A", "B"]) if offer == "o1" else "A"
        group = "control" if rng.random() < 0.15 else "treatment"
        contacts.append(("r", "spring", f"c{i}", D0, channel, segment, offer, variant, group))
        rate = 0.3 if group == "treatment" else 0.15
        if rng.random() < 0.5:
            orders.append((f"p{i}", f"c{i}", D0 - dt.timedelta(days=50),
                           round(float(rng.gamma(2, 20)), 2), "online"))
        if rng.random() < rate:
            orders.append((f"o{i}", f"c{i}", D0 + dt.timedelta(days=int(rng.integers(1, 31))),
                           round(float(rng.gamma(2, 20)), 2), rng.choice(["online", "store"])))
    con.executemany("INSERT INTO contacts (run_id, campaign, customer_id, contacted_at, channel,"
                    " segment, offer, variant, test_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    contacts)
    con.executemany("INSERT INTO orders (order_id, customer_id, order_date, amount, channel,"
                    " status) VALUES (?, ?, ?, ?, ?, 'completed')", orders)
    classify_orders(con)
    return con


def _hidden(value) -> bool:
    return value is SUPPRESSED


def _shown(value) -> bool:
    return not _hidden(value) and value is not None and not (
        isinstance(value, float) and math.isnan(value))


class Page:
    """The unknowns (hidden counts and revenue sums) and the sums linking them."""

    def __init__(self):
        self.unknowns: dict[tuple, int] = {}
        self.equations: list[tuple[dict[tuple, float], float]] = []

    def term(self, key, value):
        """A figure on the page: (known value, None) or (None, unknown id)."""
        if value is None:
            return 0.0, None
        if key not in self.unknowns:
            self.unknowns[key] = len(self.unknowns)
        return None, key

    def add_sum(self, total, parts):
        """total = sum(parts); each item is (key, value or None when hidden)."""
        coef: dict[tuple, float] = {}
        rhs = 0.0
        for sign, (key, value) in [(1, total)] + [(-1, p) for p in parts]:
            if value is None:
                self.unknowns.setdefault(key, len(self.unknowns))
                coef[key] = coef.get(key, 0.0) + sign
            else:
                rhs -= sign * value
        if coef:
            self.equations.append((coef, rhs))

    def determined(self):
        """Hidden figures the sums pin down to one value."""
        if not self.equations:
            return []
        a = np.zeros((len(self.equations), len(self.unknowns)))
        for row, (coef, _) in enumerate(self.equations):
            for key, c in coef.items():
                a[row, self.unknowns[key]] = c
        rank = np.linalg.matrix_rank(a)
        found = []
        for key, col in self.unknowns.items():
            unit = np.zeros(len(self.unknowns))
            unit[col] = 1
            if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
                found.append(key)
        return found


def _value(frame, index, column, scale=None):
    v = frame.at[index, column]
    if _hidden(v):
        return None
    if scale is not None:
        n = frame.at[index, scale]
        if _hidden(n):
            return None
        return float(v) * float(n)
    return float(v)


def _attack_sums(res) -> list:
    rows, variants, ch = res.rows, res.variants, res.order_channels
    page = Page()
    figures = {  # count figures and revenue sums (mean per customer x customers)
        "contacted": None, "control": None, "responders_t": None, "responders_c": None,
        "rev_t": "contacted", "rev_c": "control"}

    def cell(frame_name, frame, index, column):
        return ((frame_name, index, column), _value(frame, index, column, figures.get(column)))

    total = rows.index[rows["dimension"] == "total"][0]
    for dim in ("offer", "segment", "channel"):
        members = rows.index[rows["dimension"] == dim]
        for col in figures:
            page.add_sum(cell("rows", rows, total, col),
                         [cell("rows", rows, i, col) for i in members])
    for offer, part in variants.groupby("offer"):
        own = rows.index[(rows["dimension"] == "offer") & (rows["level"] == offer)]
        margin = own[0] if len(own) else total
        for col in ("contacted", "control", "responders_t", "responders_c"):
            page.add_sum(cell("rows", rows, margin, col),
                         [cell("variants", variants, i, col) for i in part.index])
    ch_money = {"buyers_t": None, "buyers_c": None, "rev_t": "contacted", "rev_c": "control"}
    for _, part in ch.groupby("order_channel"):
        overall = part.index[part["contact_channel"].isna()][0]
        members = part.index[part["contact_channel"].notna()]
        for col, scale in ch_money.items():
            page.add_sum((("ch", overall, col), _value(ch, overall, col, scale)),
                         [(("ch", i, col), _value(ch, i, col, scale)) for i in members])
    for contact, part in ch.groupby(ch["contact_channel"].fillna("")):
        own = rows.index[(rows["dimension"] == "channel") & (rows["level"] == contact)]
        margin = own[0] if len(own) else total
        for col, scale in (("rev_t", "contacted"), ("rev_c", "control")):
            page.add_sum(cell("rows", rows, margin, col),
                         [(("ch", i, col), _value(ch, i, col, scale)) for i in part.index])
    return page.determined()


def _attack_formulas(res) -> list:
    """Hidden responder counts a shown rate, difference, ratio or test result gives back."""
    found = []
    for index, r in res.rows.iterrows():
        for x, n, rate in (("responders_t", "contacted", "rate_t"),
                           ("responders_c", "control", "rate_c")):
            if not _hidden(r[x]) or not _shown(r[n]):
                continue
            candidates = set()
            if _shown(r[rate]):
                candidates.add(round(r[rate] * r[n]))
            other = "rate_c" if rate == "rate_t" else "rate_t"
            if _shown(r["uplift_abs"]) and _shown(r[other]):
                sign = 1 if rate == "rate_t" else -1
                candidates.add(round((r[other] + sign * r["uplift_abs"]) * r[n]))
            if _shown(r["p_value"]) or _shown(r["ci_low"]):
                candidates.add("search")
            if candidates:
                found.append((index, x, candidates))
        for money in ("rev_t", "rev_c"):
            if _hidden(r[money]) and _shown(r["incremental_revenue"]):
                found.append((index, money, "incremental revenue"))
    return found


def _search_by_test(res) -> list:
    """A hidden control count whose p-value or interval, with the rest shown, fits one count."""
    found = []
    for index, r in res.rows.iterrows():
        if not (_hidden(r["responders_c"]) and _shown(r["responders_t"]) and _shown(r["control"])
                and _shown(r["contacted"]) and _shown(r["ci_low"])):
            continue
        fits = [x for x in range(int(r["control"]) + 1)
                if abs(uplift(int(r["contacted"]), int(r["responders_t"]), int(r["control"]),
                              x).ci_low - r["ci_low"]) < 1e-12]
        if len(fits) == 1:
            found.append((index, fits[0]))
    return found


@pytest.mark.parametrize(("seed", "customers"), [(1, 120), (2, 250), (3, 400), (4, 900)])
def test_no_suppressed_figure_can_be_recovered(seed, customers):
    raw = campaign_results(_data(seed, customers), 30, {"email": 0.1, "letter": 1.0}, AS_OF)
    res = suppress_results(raw, K)
    hidden = [(i, c) for i, r in res.rows.iterrows() for c in r.index if _hidden(r[c])]
    assert hidden, "the fixture must have small cells to protect"
    assert _attack_sums(res) == []
    assert _attack_formulas(res) == []
    assert _search_by_test(res) == []


def test_primary_cells_are_hidden_and_large_ones_shown():
    raw = campaign_results(_data(4, 900), 30, {"email": 0.1, "letter": 1.0}, AS_OF)
    res = suppress_results(raw, K)
    for index, r in raw.rows.iterrows():
        shown = res.rows.loc[index]
        for x, n in (("responders_t", "contacted"), ("responders_c", "control")):
            if 0 < r[x] < K or 0 < r[n] - r[x] < K or 0 < r[n] < K:
                assert _hidden(shown[x]), (r["dimension"], r["level"], x)
    total = res.rows[res.rows["dimension"] == "total"].iloc[0]
    assert not _hidden(total["contacted"]) and not _hidden(total["uplift_abs"])
    data = res.as_dict()
    assert data["rows"][0]["suppressed"] == []
    hidden = [r for r in data["rows"] if r["suppressed"]]
    assert hidden and all(r[c] is None for r in hidden for c in r["suppressed"])


def test_a_single_small_level_takes_a_second_one_with_it():
    raw = campaign_results(_data(4, 900), 30, {}, AS_OF)
    segments = raw.rows[raw.rows["dimension"] == "segment"]
    res = suppress_results(raw, K)
    hidden = [i for i in segments.index if _hidden(res.rows.at[i, "responders_c"])]
    small = [i for i in segments.index if 0 < segments.at[i, "responders_c"] < K
             or 0 < segments.at[i, "control"] - segments.at[i, "responders_c"] < K]
    assert len(small) >= 1 and len(hidden) >= 2 and set(small) <= set(hidden)


def test_the_attacker_finds_what_primary_suppression_alone_leaves(monkeypatch):
    # without the secondary suppression (sums, n implies x) a hidden cell comes back
    import crmreport.report.results as module

    monkeypatch.setattr(module, "_close", lambda hidden, relations, frames: None)
    raw = campaign_results(_data(4, 900), 30, {"email": 0.1, "letter": 1.0}, AS_OF)
    assert _attack_sums(suppress_results(raw, K)) != []


def test_response_totals_hide_the_rate_that_gives_the_count_back():
    # the case: control responders "–" but 3.7% of 161 beside them gives back 6
    from crmreport.report.format import suppress_response

    frame = pd.DataFrame([{
        "campaign": "c", "segment": None, "channel": None, "is_total": True,
        "contacted": 1500, "control": 161, "responders_t": 300, "responders_c": 6,
        "rate_t": 0.2, "rate_c": 6 / 161, "uplift_abs": 0.2 - 6 / 161, "uplift_rel": 4.4,
        "ci_low": 0.1, "ci_high": 0.2, "p_value": 0.01, "rev_per_contact_t": 10.0,
        "rev_per_contact_c": 5.0, "incremental_revenue": 7000.0, "cost": 100.0, "roi": 69.0}])
    shown = suppress_response(frame, K).iloc[0]
    for column in ("responders_c", "rate_c", "uplift_abs", "uplift_rel", "ci_low", "ci_high",
                   "p_value", "rev_per_contact_c", "incremental_revenue", "roi"):
        assert shown[column] is SUPPRESSED, column
    assert shown["rate_t"] == 0.2 and shown["responders_t"] == 300
    # 155 of 161 responded: the 6 who did not are as few
    frame.loc[0, "responders_c"] = 155
    assert suppress_response(frame, K).iloc[0]["rate_c"] is SUPPRESSED
