"""The report's words: English and German say the same things with the same placeholders."""

from __future__ import annotations

import string

from crmreport.report.labels import DEFINITIONS, LABELS, LOCALES


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(LABELS) == set(DEFINITIONS) == set(LOCALES) == {"en", "de"}
    assert LABELS["en"].keys() == LABELS["de"].keys()
    for key, english in LABELS["en"].items():
        assert _placeholders(english) == _placeholders(LABELS["de"][key]), key
    assert _placeholders(LABELS["en"]["fit_chart"]) == {"weeks"}  # the check sees them
    assert _placeholders(DEFINITIONS["en"]) == _placeholders(DEFINITIONS["de"])
