"""localisation: hand-checked strings per locale, one rounding rule, and the locale rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from babel import Locale
from babel import numbers as babel_numbers

from crmreport import localisation as loc

NB, NNB = "\u00a0", "\u202f"  # no-break space, narrow no-break space
DAY = dt.date(2026, 3, 1)

# locale: number, negative, EUR, GBP, CHF, USD, percent, short date, long date, month, DE
CASES = {
    "de_DE": ("1.234.567,89", "-1.234,50", f"1.234,50{NB}€", f"1.234,50{NB}£",
              f"1.234,50{NB}CHF", f"1.234,50{NB}$", f"12,3{NB}%", "01.03.2026",
              "1. März 2026", "Januar 2026", "Deutschland"),
    "de_CH": ("1'234'567.89", "-1'234.50", f"EUR{NB}1'234.50", f"£{NB}1'234.50",
              f"CHF{NB}1'234.50", f"${NB}1'234.50", "12.3%", "01.03.2026",
              "1. März 2026", "Januar 2026", "Deutschland"),
    "de_AT": ("1.234.567,89", "-1.234,50", f"€{NB}1.234,50", f"£{NB}1.234,50",
              f"CHF{NB}1.234,50", f"${NB}1.234,50", f"12,3{NB}%", "01.03.2026",
              "1. März 2026", "Jänner 2026", "Deutschland"),
    "en_GB": ("1,234,567.89", "-1,234.50", "€1,234.50", "£1,234.50", "CHF1,234.50",
              "US$1,234.50", "12.3%", "1 Mar 2026", "1 March 2026", "January 2026",
              "Germany"),
    "en_US": ("1,234,567.89", "-1,234.50", "€1,234.50", "£1,234.50", "CHF1,234.50",
              "$1,234.50", "12.3%", "Mar 1, 2026", "March 1, 2026", "January 2026",
              "Germany"),
    "fr_FR": (f"1{NNB}234{NNB}567,89", f"-1{NNB}234,50", f"1{NNB}234,50{NB}€",
              f"1{NNB}234,50{NB}£GB", f"1{NNB}234,50{NB}CHF", f"1{NNB}234,50{NB}$US",
              f"12,3{NB}%", "1 mars 2026", "1 mars 2026", "janvier 2026", "Allemagne"),
}


@pytest.mark.parametrize("tag", sorted(CASES))
def test_formats_per_locale(tag: str) -> None:
    number, negative, eur, gbp, chf, usd, percent, short, long, month, germany = CASES[tag]
    locale = Locale.parse(tag)
    assert loc.number(Decimal("1234567.891"), 2, locale) == number
    assert loc.number(-1234.5, 2, locale) == negative
    money = [loc.money(Decimal("1234.5"), c, locale) for c in ("EUR", "GBP", "CHF", "USD")]
    assert money == [eur, gbp, chf, usd]
    assert loc.percent(0.1234, 1, locale) == percent
    assert loc.date(DAY, locale) == short and loc.date(DAY, locale, "long") == long
    assert loc.month(dt.date(2026, 1, 15), locale, "long") == month
    assert loc.country("de", locale) == germany


def test_short_months_and_separators() -> None:
    de, en = Locale.parse("de_DE"), Locale.parse("en_GB")
    assert loc.month(DAY, de) == "März 2026" and loc.month(DAY, en) == "Mar 2026"
    assert loc.separators(de) == ",." and loc.separators(Locale.parse("de_CH")) == ".'"


@pytest.mark.parametrize(("value", "places", "expected"), [
    (2.675, 2, "2.68"), (0.125, 2, "0.13"), (Decimal("0.125"), 2, "0.13"),
    (-2.675, 2, "-2.68"), (2.5, 0, "3"), (-0.5, 0, "-1"), (1.005, 2, "1.01"),
    ("1000000.005", 2, "1,000,000.01"), (7, 2, "7.00")])
def test_rounds_half_up_on_the_decimal_value(value: object, places: int, expected: str) -> None:
    assert loc.number(value, places, Locale.parse("en_GB")) == expected


@pytest.mark.parametrize("value", [0, 0.0, -0.0, -0.001, Decimal("-0.004")])
def test_zero_has_no_minus_sign(value: object) -> None:
    de = Locale.parse("de_DE")
    assert loc.number(value, 2, de) == "0,00"
    assert loc.money(value, "EUR", de) == f"0,00{NB}€"
    assert loc.percent(to_fraction(value), 1, de) == f"0,0{NB}%"


def to_fraction(value: object) -> Decimal:
    """The same near-zero value as a fraction whose percentage rounds to 0.0."""
    return loc.to_decimal(value) / 100


def test_money_uses_the_currency_digits() -> None:
    assert loc.money(1234.5, "JPY", Locale.parse("en_US")) == "¥1,235"
    assert loc.money(Decimal("-0.005"), "EUR", Locale.parse("en_GB")) == "-€0.01"


def test_not_a_number_is_a_value_error() -> None:
    for bad in ("abc", None, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            loc.number(bad, 2, Locale.parse("en_GB"))


@pytest.mark.parametrize(("given", "expected"), [
    ("de_AT", "de_AT"), ("de-AT", "de_AT"), ("de_at", "de_AT"), ("en-gb", "en_GB"),
    ("de", "de_CH"),  # a bare language takes the default's region when the languages agree
    ("en", "en"), ("fr_XX", "fr"),  # an unknown region falls back to its language
    (None, "de_CH"), ("", "de_CH"), ("  ", "de_CH"), ("xx_YY", "de_CH"), ("klingon", "de_CH"),
    (42, "de_CH")])
def test_locale_rule(given: object, expected: str) -> None:
    assert str(loc.resolve(given, Locale.parse("de_CH"))) == expected


def test_unknown_country_code_is_shown_as_given() -> None:
    assert loc.country("QQ", Locale.parse("de_DE")) == "QQ"
    assert loc.country("CH", Locale.parse("fr_FR")) == "Suisse"


@pytest.mark.parametrize(("language", "tag"), [("de", "de_DE"), ("en", "en_GB"),
                                               ("de", "de_CH")])
def test_emails_letters_and_reports_format_a_value_alike(language: str, tag: str,
                                                        tmp_path: Path) -> None:
    from crmreport.personalise.templating import make_environment
    from crmreport.report.format import Formatter

    report = Formatter(language, tag, "EUR")
    (tmp_path / "v.txt.j2").write_text("{{ v | number(p) }}|{{ v | money('EUR') }}|"
                                       "{{ d | date }}", encoding="utf-8")
    template = make_environment(tmp_path, tag).get_template("v.txt.j2")
    values = [2.675, 0.125, -1234.5, Decimal("1234567.005"), -0.001, 0, 42]
    for value in values:
        for places in (0, 1, 2):
            filters = template.render(v=value, p=places, d=DAY).split("|")
            assert filters == [report.number(value, places), report.money(value),
                               report.date(DAY)]


# Amounts whose writing could differ: zero, negatives, rounding halves both ways, every group
# size, the fast path's limit and past it.
AMOUNTS = [Decimal(text) for text in (
    "0", "-0", "0.004", "-0.004", "0.005", "-0.005", "0.015", "1", "-1", "9.995", "-9.995",
    "12.5", "99.999", "100.50", "999.994", "999.995", "1000", "-1234.565", "12345.675",
    "123456.785", "1234567.89", "-98765432.105", "999999999999999.99", "1000000000000000",
    "-123456789012345678.90", "1E+3", "5E-3")] + [0.125, 2.675, -1.005, 10**7, -3, 1e16]


@pytest.mark.parametrize("tag", ["de_DE", "de_AT", "de_CH", "en_GB", "en_US", "fr_FR",
                                 "nl_NL", "hi_IN", "ar_EG", "ja_JP"])
@pytest.mark.parametrize("currency", ["EUR", "GBP", "JPY", "CHF", "BHD"])
def test_money_is_written_as_babel_writes_it(tag: str, currency: str) -> None:
    """The writer that skips Babel's per-amount work against Babel's own pattern.apply, on
    every amount after its first checked uses (so past the checks too)."""
    locale = Locale.parse(tag)
    places = babel_numbers.get_currency_precision(currency)
    writer = loc._MoneyWriter(currency, locale)
    writer.checks = 0  # nothing checked: what is compared is what the writer itself writes
    for value in AMOUNTS:
        rounded = loc.round_half_up(value, places)
        pattern = locale.currency_formats["standard"]
        babel = str(pattern.apply(rounded, locale, currency=currency))
        if "'" in babel_numbers.get_group_symbol(locale):  # Babel drops them: see _apply
            assert not writer.affixes
            continue
        written = writer.write(rounded) if writer.affixes else None
        assert written in (babel, None), (value, written, babel)
        assert loc.money(value, currency, locale) == babel
    assert writer.affixes or tag in ("de_CH", "hi_IN")  # groups of 2 and 3: Babel's


def test_a_money_writer_that_differs_from_babel_hands_over_to_it() -> None:
    locale = Locale.parse("de_DE")
    writer = loc._MoneyWriter("EUR", locale)
    writer.affixes = (("X", ""), ("-X", ""))  # wrong on purpose
    assert writer.write(Decimal("1.50")) == f"1,50{NB}€"  # checked: Babel's, and from now on
    assert not writer.affixes
