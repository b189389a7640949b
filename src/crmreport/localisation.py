"""Numbers, money, percentages, dates, months and country names for any locale Babel knows.

Emails, letters and the report all format through here, so one value reads the same
everywhere. One rounding rule: half up on the decimal value of the number (money is DECIMAL
in the data; a float is taken as the shortest decimal that reads back as it, so 2.675 is
2.675 and rounds to 2.68). Zero never shows a minus sign.

Locale rule (:func:`resolve`): ``de``, ``de_DE``, ``de-DE`` and ``de-de`` are accepted. A
bare language takes the default's region when the languages agree (``de`` with a default of
de_CH is de_CH). An unknown region falls back to its language, and a missing or unknown
locale to the default, so bad data never stops a run.
"""

from __future__ import annotations

import copy
import datetime as dt
import numbers
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers

DateStyle = Literal["short", "long"]
# "short" is CLDR's medium: CLDR's short has two-digit years in German (01.03.26).
_DATE_FORMATS = {"short": "medium", "long": "long"}
_MONTH_SKELETONS = {"short": "yMMM", "long": "yMMMM"}


def resolve(locale: object, default: Locale) -> Locale:
    """The Babel locale for ``locale`` (see the module rule), else ``default``."""
    if not isinstance(locale, str) or not locale.strip():
        return default
    tag = locale.strip().replace("-", "_")
    parsed = _parse(tag) or _parse(tag.split("_")[0])
    if parsed is None:
        return default
    if parsed.territory is None and parsed.language == default.language:
        return default
    return parsed


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag)
    except (ValueError, UnknownLocaleError):
        return None


def to_decimal(value: object) -> Decimal:
    """The decimal value of a number: Decimal as is, a float by its shortest repr."""
    try:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, numbers.Integral):
            return Decimal(int(value))
        if isinstance(value, str):
            return Decimal(value.strip())
        if isinstance(value, numbers.Real):
            return Decimal(repr(float(value)))
    except InvalidOperation:
        pass
    raise ValueError(f"a {type(value).__name__} is not a number")


def round_half_up(value: object, places: int) -> Decimal:
    """``value`` rounded half up to ``places`` decimals; -0 becomes 0."""
    amount = to_decimal(value)
    if not amount.is_finite():
        raise ValueError("not a finite number")
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded


def number(value: object, places: int, locale: Locale) -> str:
    """A grouped number with exactly ``places`` decimals: 1.234,50 (de) or 1,234.50 (en)."""
    pattern = _pattern(locale.decimal_formats[None].pattern, places)
    return _apply(pattern, round_half_up(value, places), locale)


def percent(value: object, places: int, locale: Locale) -> str:
    """A fraction as a percentage: 0.1234 -> 12,3 % (de) or 12.3% (en)."""
    rounded = round_half_up(to_decimal(value) * 100, places)
    pattern = _pattern(locale.percent_formats[None].pattern, places)
    return _apply(pattern, rounded.scaleb(-2), locale)


def money(value: object, currency: str, locale: Locale) -> str:
    """An amount with the currency's symbol and digits: 1.234,50 € (de_DE), £1,234.50 (en_GB)."""
    code = currency.upper()
    writer = _money_writer(code, locale)
    rounded = round_half_up(value, writer.places)
    return writer.write(rounded) if writer.affixes else _babel_money(rounded, code, locale)


def _babel_money(rounded: Decimal, code: str, locale: Locale) -> str:
    pattern = babel_numbers.parse_pattern(locale.currency_formats["standard"].pattern)
    return _apply(pattern, rounded, locale, code)


# Amounts written by _MoneyWriter are compared with Babel's own for this many first uses.
MONEY_CHECKS = 64
_FAST_LIMIT = Decimal(10) ** 15  # beyond, Babel's normalize() could round: Babel writes it


class _MoneyWriter:
    """One currency's amounts in one locale as Babel's pattern writes them, without Babel's
    work per amount (a pattern walk, symbol lookups, a regular expression): the digits
    grouped by Python's format() and the pattern's prefix and suffix, read once.

    Only for the plain patterns nearly every locale has (groups of three, no scaling,
    significant digits, exponent or quotes); ``affixes`` is empty for the others, which
    Babel writes. The first MONEY_CHECKS amounts are also written by Babel: on any
    difference Babel writes every later amount (``affixes`` emptied)."""

    __slots__ = ("affixes", "checks", "code", "locale", "marks", "places", "spec")

    def __init__(self, code: str, locale: Locale):
        self.code, self.locale = code, locale
        self.places = babel_numbers.get_currency_precision(code)
        self.spec = f",.{self.places}f"
        self.checks = MONEY_CHECKS
        pattern = locale.currency_formats["standard"]
        symbol = babel_numbers.get_currency_symbol(code, locale)
        group = babel_numbers.get_group_symbol(locale)
        point = babel_numbers.get_decimal_symbol(locale)
        texts = [*pattern.prefix, *pattern.suffix]
        plain = (pattern.grouping == (3, 3) and pattern.int_prec[0] == 1 and not pattern.scale
                 and not pattern.exp_prec and "@" not in pattern.pattern
                 and pattern.number_pattern != "" and not any("¤¤" in t for t in texts)
                 and "'" not in "".join([*texts, symbol, group, point]))
        prefix, suffix = ([t.replace("¤", symbol) for t in pair]
                          for pair in (pattern.prefix, pattern.suffix))
        self.affixes: tuple[tuple[str, str], ...] = \
            tuple(zip(prefix, suffix, strict=True)) if plain else ()
        self.marks = str.maketrans({",": group, ".": point})

    def write(self, rounded: Decimal) -> str:
        """``rounded`` (to ``places``, no negative zero) as Babel writes it."""
        if abs(rounded) >= _FAST_LIMIT:
            return _babel_money(rounded, self.code, self.locale)
        prefix, suffix = self.affixes[rounded.is_signed()]
        text = prefix + format(abs(rounded), self.spec).translate(self.marks) + suffix
        if self.checks:
            self.checks -= 1
            babel = _babel_money(rounded, self.code, self.locale)
            if text != babel:
                self.affixes = ()
                return babel
        return text


@lru_cache(maxsize=64)
def _money_writer(code: str, locale: Locale) -> _MoneyWriter:
    return _MoneyWriter(code, locale)


def date(value: dt.date, locale: Locale, style: DateStyle = "short") -> str:
    """short: 01.03.2026 (de), 1 Mar 2026 (en_GB); long: 1. März 2026, 1 March 2026."""
    return babel_dates.format_date(value, _DATE_FORMATS[style], locale=locale)


def month(value: dt.date, locale: Locale, style: DateStyle = "short") -> str:
    """The month and year of ``value``: short Mar 2026 / März 2026, long March 2026."""
    return babel_dates.format_skeleton(_MONTH_SKELETONS[style], value, locale=locale)


def country(code: str, locale: Locale) -> str:
    """An ISO 3166 alpha-2 code as the locale names it (DE -> Deutschland); unknown as given."""
    return str(locale.territories.get(code.strip().upper(), code))


def separators(locale: Locale) -> str:
    """Decimal then group symbol, as plotly's ``separators`` wants them."""
    return babel_numbers.get_decimal_symbol(locale) + babel_numbers.get_group_symbol(locale)


@lru_cache(maxsize=64)
def _pattern(text: str, places: int) -> babel_numbers.NumberPattern:
    """The locale's pattern with exactly ``places`` decimals."""
    pattern = copy.copy(babel_numbers.parse_pattern(text))
    pattern.frac_prec = (places, places)
    return pattern


def _apply(pattern: babel_numbers.NumberPattern, amount: Decimal, locale: Locale,
           currency: str | None = None) -> str:
    group = babel_numbers.get_group_symbol(locale)
    if "'" not in group:
        return str(pattern.apply(amount, locale, currency=currency))
    # Babel unquotes its output, so an apostrophe group symbol (de_CH) would drop pairs of
    # separators: 1'234'567 -> 1234567. Group the digits here instead.
    plain = pattern.apply(amount, locale, currency=currency, group_separator=False)
    return re.sub(r"\d+", lambda m: _group(m.group(), group, pattern.grouping), plain, count=1)


def _group(digits: str, symbol: str, grouping: tuple[int, int]) -> str:
    first, rest = grouping
    if len(digits) <= first:
        return digits
    head, tail = digits[:-first], [digits[-first:]]
    while len(head) > rest:
        head, tail = head[:-rest], [head[-rest:], *tail]
    return symbol.join([head, *tail])
