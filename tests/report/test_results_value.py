"""The value model's holdout verdict in words, and the churn-risk chart."""

from crmreport.config.models import Branding
from crmreport.monitor.value_summary import ValueSummary
from crmreport.report.charts import churn_chart
from crmreport.report.format import SUPPRESSED, Formatter
from crmreport.report.labels import LABELS
from crmreport.report.results import value_verdict

HOLDOUT = {"model": "bgnbd", "customers": 1234, "actual": 400.0, "predicted": 430.0,
           "error_percent": 7.5, "warning": False, "threshold_percent": 10.0}


def _summary(**holdout) -> ValueSummary:
    return ValueSummary(reason=None, holdout=HOLDOUT | holdout)


def test_verdict_in_words():
    text = value_verdict(_summary(), Formatter("en"), LABELS["en"])
    assert text is not None and text.startswith("Model check passed")
    assert "430 repeat purchases of 1,234 customers" in text
    assert "400 happened, 7.5% too many" in text and "10% warning threshold" in text
    failed = value_verdict(_summary(predicted=300.0, error_percent=-25.0, warning=True),
                           Formatter("de"), LABELS["de"])
    assert failed is not None and failed.startswith("Modellprüfung nicht bestanden")
    assert "25,0 % zu wenige" in failed and "1.234 Kunden" in failed


def test_verdict_when_there_is_none():
    summary = ValueSummary(reason=None, holdout=None, holdout_reason="too few buyers")
    assert value_verdict(summary, Formatter("en"), LABELS["en"]) == (
        "The model could not be checked: too few buyers")
    assert value_verdict(ValueSummary(reason="no orders"), Formatter("en"), LABELS["en"]) is None


def test_churn_chart_leaves_suppressed_bands_as_gaps():
    bands = [{"low": 0.0, "high": 0.2, "customers": 120}, {"low": 0.2, "high": 0.4,
                                                           "customers": SUPPRESSED}]
    fig = churn_chart(bands, Branding(name="x"), Formatter("en"))
    assert list(fig.data[0].y) == [120.0, None]
    assert list(fig.data[0].x) == ["0%–20%", "20%–40%"]
