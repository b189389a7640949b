"""compute_features waits for its models' libraries only where it fits them."""

import datetime as dt
from pathlib import Path

from crmreport import features
from crmreport.engine import connect
from crmreport.features import compute_features
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources


def _identified(shop: Path):  # type: ignore[no-untyped-def]
    con = connect()
    staged = load_sources(con, [SourceFile("customers", shop / "customers.csv"),
                                 SourceFile("orders", shop / "orders.csv"),
                                 SourceFile("order_lines", shop / "order_lines.csv")])
    identify_tables(con, staged, "EUR")
    return con


def test_models_ready_is_waited_for_after_the_queries_and_before_the_fits(shop, monkeypatch):
    steps: list[str] = []
    for name in ("compute_rfm", "compute_co_purchase", "fitting_value_models", "fit_churn"):
        step = getattr(features, name)
        monkeypatch.setattr(features, name, lambda *a, _n=name, _s=step, **k: (
            steps.append(_n), _s(*a, **k))[1])
    compute_features(_identified(shop), dt.date(2026, 3, 1),
                     models_ready=lambda: steps.append("ready"))
    assert steps == ["compute_rfm", "compute_co_purchase", "ready", "fitting_value_models",
                     "fit_churn"]


def test_models_ready_is_not_waited_for_without_models(shop):
    waited: list[bool] = []
    compute_features(_identified(shop), dt.date(2026, 3, 1), fit_models=False,
                     models_ready=lambda: waited.append(True))
    assert waited == []
