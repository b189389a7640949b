"""The churn model on the full UCI Online Retail file as of 2011-12-10, where BG/NBD sees no
dropout: lapsed one-time buyers must come out at high risk, and the reported AUC must be what
a rank count (Mann-Whitney) over labels computed here gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from crmreport import pipeline
from crmreport.config import load_campaign
from crmreport.features.churn import new_model, split
from crmreport.run import Run

DATA = Path(__file__).resolve().parents[1] / "data" / "online_retail" / "online_retail.csv.gz"
AS_OF = dt.date(2011, 12, 10)
CAMPAIGN = f"""
campaign: churn-check
as_of: {AS_OF}
locale: en_GB
currency: GBP
data:
  customers: {{path: {DATA}, mapping: online-retail}}
  orders: {{path: {DATA}, mapping: online-retail}}
segments:
  - {{id: everyone, when: "TRUE"}}
policy: {{seed: churn}}
channels: {{}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    path = tmp_path_factory.mktemp("online-retail") / "campaign.yaml"
    path.write_text(CAMPAIGN, encoding="utf-8")
    return pipeline.prepare(load_campaign(path))


def mann_whitney_auc(y: np.ndarray, p: np.ndarray) -> float:
    """P(a churner's score > a stayer's), ties counting half, from mid-ranks."""
    ranks = rankdata(p)
    churners, stayers = int(y.sum()), int(len(y) - y.sum())
    return float((ranks[y == 1].sum() - churners * (churners + 1) / 2) / (churners * stayers))


def test_btyd_sees_no_dropout_here(run: Run) -> None:
    churn = run.featured.churn
    assert churn.btyd_no_dropout and churn.btyd_note and "no dropout" in churn.btyd_note
    below = run.con.execute("SELECT count(*) FILTER (WHERE p_alive < 0.5) FROM features")
    assert below.fetchone() == (0,)


def test_lapsed_one_time_buyers_get_a_high_churn_risk(run: Run) -> None:
    lapsed, recent = run.con.execute("""
        SELECT median(churn_risk) FILTER (WHERE orders = 1 AND recency_days > 180),
               median(churn_risk) FILTER (WHERE orders >= 2 AND recency_days <= 30)
        FROM features""").fetchone() or (None, None)
    assert lapsed > 0.6  # measured 0.687 (BG/NBD: P(alive) = 1, so 1 - P(alive) = 0)
    assert recent < 0.3 and lapsed - recent > 0.3  # measured 0.173


def test_days_overdue_is_null_exactly_without_orders(run: Run) -> None:
    assert run.con.execute("""SELECT count(*) FILTER (WHERE (orders = 0) <> (days_overdue IS NULL)),
        count(*) FILTER (WHERE orders > 0 AND churn_risk IS NULL) FROM features""").fetchone() \
        == (0, 0)


def test_reported_auc_is_the_rank_count_over_independent_labels(run: Run) -> None:
    churn = run.featured.churn
    n = dt.timedelta(days=churn.horizon_days)
    train_at, check_at = AS_OF - 2 * n, AS_OF - n
    # Labels from the purchases as known at each date (the net rule, checked against an
    # independent computation in test_net_revenue_online_retail): a buyer before check_at with
    # no purchase in [check_at, AS_OF).
    buyers = dict(run.con.execute(f"""
        SELECT b.customer_id, a.customer_id IS NOT NULL FROM
            (SELECT DISTINCT customer_id FROM purchases(DATE '{check_at}')
             WHERE customer_id IS NOT NULL) b
        LEFT JOIN (SELECT DISTINCT customer_id FROM purchases(DATE '{AS_OF}')
                   WHERE order_date >= DATE '{check_at}') a USING (customer_id)""").fetchall())
    check = split(run.con, check_at, None)
    assert sorted(buyers) == check.ids.tolist()
    y = np.array([0 if buyers[c] else 1 for c in check.ids])
    train = split(run.con, train_at, churn.horizon_days)
    p = new_model().fit(train.x, train.y).predict_proba(check.x)[:, 1]
    auc = mann_whitney_auc(y, p)
    assert churn.auc == pytest.approx(auc, abs=1e-4) and auc > 0.65
    assert churn.check_churn_rate == pytest.approx(y.mean(), abs=1e-4)
    assert churn.brier == pytest.approx(float(np.mean((p - y) ** 2)), abs=1e-4)
