"""The executive summary's figures, changes, sentences and checks on hand-made periods."""

import datetime as dt

import pandas as pd
import pytest

from crmreport.account import Account, FileAccount
from crmreport.config.models import FailOn, Report
from crmreport.monitor.periods import Period, PeriodFigures, PeriodSummary, period_containing
from crmreport.monitor.response import COLUMNS
from crmreport.report.format import SUPPRESSED, Formatter
from crmreport.report.summary import (
    change_text,
    figures,
    period_label,
    sentences,
    sparkline,
)
from crmreport.report.summary_json import checks

W08 = period_containing("week", dt.date(2026, 2, 16))
W09 = period_containing("week", dt.date(2026, 2, 23))
NO_RESPONSE = pd.DataFrame(columns=COLUMNS)


def _week(period: Period, revenue: float, active: int, new: int, retained: int,
          base: int) -> PeriodFigures:
    return PeriodFigures(period, revenue, active, new, retained, base, NO_RESPONSE)


def _summary(w08: PeriodFigures, w09: PeriodFigures, equity: float | None = 5000.0):
    return PeriodSummary("week", dt.date(2026, 3, 2), [w08, w09], equity)


# W08: 130.00 from 20 buyers, 12 new, 10 of W07's 40 again; W09: 120.00, 25 buyers, 15 new,
# 12 of W08's 20 again.
TWO_WEEKS = _summary(_week(W08, 130.0, 20, 12, 10, 40), _week(W09, 120.0, 25, 15, 12, 20))


def test_figures_and_changes_by_hand() -> None:
    by_key = {f.key: f for f in figures(TWO_WEEKS, k=10)}
    assert by_key["revenue"].values == [130.0, 120.0]
    assert by_key["revenue"].change == pytest.approx(-10 / 130)
    assert by_key["active"].change == pytest.approx(5 / 20)
    assert by_key["new"].change == pytest.approx(3 / 12)
    assert by_key["retention"].values == [pytest.approx(0.25), pytest.approx(0.6)]
    assert by_key["retention"].change == pytest.approx(0.35)  # a difference of rates
    assert by_key["incremental"].value is None  # no campaign measured
    assert by_key["equity"].value == 5000.0 and by_key["equity"].change is None
    en, de = Formatter("en"), Formatter("de")
    assert change_text(by_key["revenue"], en) == "-7.7%"
    assert change_text(by_key["revenue"], de) == "-7,7\N{NO-BREAK SPACE}%"
    assert change_text(by_key["active"], en) == "+25.0%"
    assert change_text(by_key["retention"], en) == "+35.0 pp"


def test_small_figures_are_suppressed() -> None:
    # W09: 4 buyers (fewer than 10): their count and revenue are hidden; 5 new: hidden;
    # retention's base (W08's 20 buyers) is large but only 3 bought again: hidden
    summary = _summary(_week(W08, 130.0, 20, 12, 10, 40), _week(W09, 60.0, 4, 5, 3, 20))
    by_key = {f.key: f for f in figures(summary, k=10)}
    assert by_key["revenue"].value is SUPPRESSED and by_key["active"].value is SUPPRESSED
    assert by_key["new"].value is SUPPRESSED and by_key["retention"].value is SUPPRESSED
    assert by_key["revenue"].change is None
    assert sentences(summary, figures(summary, 10), [], Formatter("en"))[0] == (
        "Too few customers bought in 2026-W09 to show the figures.")


def test_period_names_in_both_languages() -> None:
    en, de = Formatter("en"), Formatter("de")
    assert (period_label(W09, en), period_label(W09, de)) == ("2026-W09", "KW 9/2026")
    quarter = period_containing("quarter", dt.date(2025, 11, 5))
    assert (period_label(quarter, en), period_label(quarter, de)) == ("Q4 2025", "Q4/2025")
    month = period_containing("month", dt.date(2026, 2, 5))
    assert period_label(month, de) == "Feb. 2026"


def test_sentences_by_hand() -> None:
    campaign = {"campaign": "spring", "ci_low": -0.01, "ci_high": 0.05, "uplift_abs": 0.02,
                "incremental_revenue": 1234.5}
    text = sentences(TWO_WEEKS, figures(TWO_WEEKS, 10), [campaign], Formatter("en"))
    assert text == [
        "Revenue in 2026-W09: €120.00, -7.7% against the previous week (€130.00).",
        "25 customers bought, 15 of them for the first time. 60.0% of the buyers of the "
        "previous week bought again (25.0% a period earlier).",
        "Campaign spring: the uplift of +2.0 pp is not significant (the 95% CI, -1.0 pp to "
        "+5.0 pp, includes zero), so its incremental revenue of €1,234.50 may be chance.",
        "Customer equity (expected value of the next 52 weeks): €5,000.00.",
    ]
    german = sentences(TWO_WEEKS, figures(TWO_WEEKS, 10), [campaign], Formatter("de"))
    nbsp = "\N{NO-BREAK SPACE}"
    assert german[0] == (f"Umsatz in KW 9/2026: 120,00{nbsp}€, -7,7{nbsp}% gegenüber der "
                         f"Vorwoche (130,00{nbsp}€).")


def test_revenue_against_the_range_of_earlier_periods() -> None:
    weeks = [period_containing("week", dt.date(2026, 2, 2) + dt.timedelta(weeks=i))
             for i in range(4)]
    summary = PeriodSummary("week", dt.date(2026, 3, 2), [
        _week(weeks[0], 100.0, 20, 1, 0, 0), _week(weeks[1], 140.0, 20, 1, 0, 0),
        _week(weeks[2], 120.0, 20, 1, 0, 0), _week(weeks[3], 130.0, 20, 1, 0, 0)], None)
    text = sentences(summary, figures(summary, 10), [], Formatter("en"))
    assert text[1] == ("That is within the range of the last 3 weeks (€100.00 to €140.00): "
                       "no unusual change.")


def test_sparkline_leaves_gaps_and_needs_two_points() -> None:
    assert sparkline([None, 1.0], "#000000") == ""
    svg = sparkline([1.0, None, 2.0, 3.0], "#123456")
    assert svg.count("<polyline") == 1  # the lone first point draws no line
    assert 'fill="#123456"' in svg


def test_fail_on_rules() -> None:
    customers = FileAccount("customers.csv", "customers", rows_in=200, loaded=196)
    customers.quarantine("missing_customer_id", 4)
    account = Account(files=[customers])
    empty = _summary(_week(W08, 130.0, 20, 12, 10, 40), _week(W09, 0.0, 0, 0, 0, 20))
    definition = Report(report="ci", title="CI", fail_on=FailOn(
        quarantined_share=0.01, no_orders_in_period=True, revenue_drop=0.5))
    found = {c.rule: c for c in checks(empty, account, definition)}
    assert found["quarantined_share"].value == pytest.approx(0.02)  # 4 of 200
    assert found["quarantined_share"].failed
    assert found["no_orders_in_period"].failed
    assert found["no_orders_in_period"].reason == (
        "no customer bought in 2026-W09 (2026-02-23 to 2026-03-01)")
    assert found["revenue_drop"].failed and found["revenue_drop"].value == 1.0
    lenient = Report(report="ci", title="CI", fail_on=FailOn(quarantined_share=0.05))
    assert [c.failed for c in checks(TWO_WEEKS, account, lenient)] == [False]
    assert checks(TWO_WEEKS, account, Report(report="ci", title="CI")) == []


def test_hidden_new_customers_leave_the_sentence_short() -> None:
    summary = _summary(_week(W08, 130.0, 20, 12, 10, 40), _week(W09, 120.0, 25, 5, 12, 20))
    text = sentences(summary, figures(summary, 10), [], Formatter("en"))
    assert text[1].startswith("25 customers bought. 60.0% of the buyers")


def test_campaign_without_incremental_revenue_is_not_given_one() -> None:
    campaign = {"campaign": "spring", "ci_low": 0.01, "ci_high": 0.05, "uplift_abs": 0.03,
                "incremental_revenue": SUPPRESSED}
    text = sentences(TWO_WEEKS, figures(TWO_WEEKS, 10), [campaign], Formatter("en"))
    assert text[2] == "Campaign spring: uplift +3.0 pp (95% CI +1.0 pp to +5.0 pp), significant."
