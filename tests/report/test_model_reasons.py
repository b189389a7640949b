"""Why a model gave no figures is a code; the report words it in its own language."""

import datetime as dt

import pytest

from crmreport.features.model_reasons import CODES, ModelError, ModelReason
from crmreport.features.value_models import fit_purchases
from crmreport.report.format import Formatter
from crmreport.report.html import _churn
from crmreport.report.labels import LABELS

PARAMS = {"too_few_repeat_buyers": {"repeat": 3, "needed": 20},
          "no_model_fitted": {"reasons": "bgnbd: no convergence"},
          "not_finite": {"columns": "p_alive"},
          "history_too_short": {"buyers": 12, "split": "training",
                                "cutoff": dt.date(2025, 9, 2), "horizon": 90},
          "one_class": {"split": "check", "cutoff": dt.date(2025, 12, 1), "churned": 1500,
                        "stayed": 4, "horizon": 90, "needed": 10}}


def test_every_code_has_words_in_both_languages():
    assert set(PARAMS) == set(CODES)
    for code, params in PARAMS.items():
        reason = ModelReason(code, params)
        assert str(reason)  # the English sentence for the CLI
        for language in LABELS:
            text = Formatter(language).reason("fallback", reason)
            assert "{" not in text and "fallback" not in text


def test_german_reason_has_no_english_and_local_numbers():
    de = Formatter("de")
    text = de.reason("x", ModelReason("one_class", PARAMS["one_class"]))
    assert "1.500" in text and "01.12.2025" in text and "Prüfdaten" in text
    for word in ("buyers", "split", "needed", "check"):
        assert word not in text


def test_value_model_raises_a_coded_reason():
    import numpy as np

    with pytest.raises(ModelError) as caught:
        fit_purchases(np.zeros(5), np.zeros(5), np.ones(5))
    assert caught.value.reason.code == "too_few_repeat_buyers"
    assert "nur 0 Kunden" in Formatter("de").reason(str(caught.value), caught.value.reason)


def test_churn_reason_in_the_german_report():
    from crmreport.features import ChurnModel

    reason = ModelReason("history_too_short", PARAMS["history_too_short"])
    churn = ChurnModel(reason=str(reason), reason_code=reason)

    class M:  # the part of Monitoring _churn reads
        pass

    m = M()
    m.churn = churn
    text = _churn(m, Formatter("de"), LABELS["de"])["unavailable"]
    assert "Bestellhistorie ist zu kurz" in text and "order history" not in text
