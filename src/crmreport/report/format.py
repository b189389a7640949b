"""Small-cell suppression, and the formatting of the report's figures.

Suppression happens once, in :func:`suppress_small`, before any table or chart sees the
figures: a figure about a group of fewer than ``min_cell_size`` customers becomes
:data:`SUPPRESSED`, which formats as "–" and charts as a gap. Rule per figure: its base is
the group it describes (treated, control, cohort, segment); uplift-type figures need both
groups; a customer count in 1..min_cell_size-1 is itself suppressed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

import pandas as pd
from babel import Locale
from babel.numbers import get_currency_symbol

from crmreport import localisation
from crmreport.config.models import Report
from crmreport.features import ChurnModel
from crmreport.features.model_reasons import ModelReason
from crmreport.monitor import Monitoring, ValueSummary, retention_curve
from crmreport.report.labels import LABELS, LOCALES


class _Suppressed:
    """The marker for a figure hidden because its group is too small."""

    _instance: _Suppressed | None = None

    def __new__(cls) -> _Suppressed:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SUPPRESSED"


SUPPRESSED = _Suppressed()

_TREATED = ["contacted", "responders_t", "rate_t", "rev_per_contact_t", "cost"]
_CONTROL = ["control", "responders_c", "rate_c", "rev_per_contact_c"]
_BOTH = ["uplift_abs", "uplift_rel", "ci_low", "ci_high", "p_value",
         "incremental_revenue", "roi"]


def is_missing(value: Any) -> bool:
    """True for None/NaN (undefined figures), not for SUPPRESSED."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def as_float(value: Any) -> float | None:
    """A chartable number, or None for suppressed/undefined."""
    if value is SUPPRESSED or is_missing(value):
        return None
    return float(value)


def suppress_small(monitoring: Monitoring, min_cell_size: int) -> Monitoring:
    """The only place small cells are removed; everything the report shows passes here."""
    k = min_cell_size
    response = suppress_response(monitoring.response, k)
    cohorts = monitoring.cohorts.astype(object)
    small_cohort = cohorts["cohort_size"] < k
    _hide_rows(cohorts, small_cohort, ["cohort_size", "active", "share"])
    _hide_rows(cohorts, _few(cohorts["active"], k), ["active", "share"])
    # The curve sums cohorts; built from the shown ones only, no difference reveals a hidden one.
    shown = monitoring.cohorts[~small_cohort.to_numpy(dtype=bool)]
    curve = retention_curve(shown).astype(object)
    _hide_rows(curve, curve["customers"] < k, ["customers", "active", "retention", "churn"])
    totals = _with_total(monitoring.segments)
    segments = totals.astype(object)
    numeric = [c for c in segments.columns if c not in ("segment", "is_total")]
    small = totals["customers"] < k
    _hide_rows(segments, small, numeric)
    _complement(segments, ~totals["is_total"].astype(bool), small, totals["customers"], numeric)
    for col in (c for c in numeric if c.startswith("offer:")):
        _hide_rows(segments, _few(segments[col], k), [col])
    return dataclasses.replace(
        monitoring, response=response, cohorts=cohorts, retention=curve, segments=segments,
        value=_suppress_value(monitoring.value, k),
        churn=_suppress_churn(monitoring.churn, k),
        results=_suppress_results(monitoring, k),
        migration=_suppress_migration(monitoring, k),
    )


def _suppress_results(monitoring: Monitoring, k: int) -> Any:
    from crmreport.report.results import suppress_results  # it uses this module's marker

    return suppress_results(monitoring.results, k) if monitoring.results else None


def _suppress_migration(monitoring: Monitoring, k: int) -> Any:
    from crmreport.report.results import suppress_migration

    return suppress_migration(monitoring.migration, k)


def _suppress_churn(churn: ChurnModel | None, k: int) -> ChurnModel | None:
    """Risk bands of fewer than k customers are hidden, and one more if that alone is."""
    if churn is None or not churn.bands:
        return churn
    raw = pd.DataFrame(churn.bands)
    frame = raw.astype(object)
    small = _few(raw["customers"], k)
    _hide_rows(frame, small, ["customers"])
    _complement(frame, pd.Series(True, index=frame.index), small, raw["customers"],
                ["customers"])
    bands = [{str(key): v for key, v in r.items()} for r in frame.to_dict("records")]
    return dataclasses.replace(churn, bands=bands)


def _suppress_value(value: ValueSummary, k: int) -> ValueSummary:
    frames = {}
    for name in ("by_segment", "distribution", "fit"):
        raw = getattr(value, name)
        frame = raw.astype(object)
        if len(frame):
            numeric = [c for c in frame.columns if c not in ("segment", "calibration_frequency",
                                                             "low", "high")]
            small = raw["customers"] < k
            _hide_rows(frame, small, numeric)
            everything = pd.Series(True, index=frame.index)  # the report shows their totals
            _complement(frame, everything, small, raw["customers"], numeric)
        frames[name] = frame
    return dataclasses.replace(value, **frames)


def suppress_response(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The response table with its small cells hidden (see the module's rule)."""
    response = frame.astype(object)
    few_t, few_c = frame["contacted"] < k, frame["control"] < k
    for i in response.index:
        _hide(response, i, _TREATED if few_t[i] else [])
        _hide(response, i, _CONTROL if few_c[i] else [])
        _hide(response, i, _BOTH if few_t[i] or few_c[i] else [])
    # Money made by fewer than k responders would show what a handful of people spent; the
    # rate (rate x group size), the uplift (rate - other rate) and the rest of _BOTH would
    # give the count back. k responders of k + 3 show the 3 who did not respond.
    for responders, size, rate, money in (
            ("responders_t", "contacted", "rate_t", "rev_per_contact_t"),
            ("responders_c", "control", "rate_c", "rev_per_contact_c")):
        few = _few(frame[responders], k) | _few(frame[size] - frame[responders], k)
        _hide_rows(response, few, [responders, rate, money, *_BOTH])
    for campaign in frame["campaign"].unique():
        detail = (frame["campaign"] == campaign) & ~frame["is_total"].astype(bool)
        _complement(response, detail, few_t, frame["contacted"], _TREATED + _BOTH)
        _complement(response, detail, few_c, frame["control"], _CONTROL + _BOTH)
    return response


def _few(values: pd.Series, k: int) -> pd.Series:
    """Counts of 1..k-1 people; zero reveals no one."""
    return values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)
                      and 0 < v < k)


def _complement(frame: pd.DataFrame, detail: pd.Series, hidden: pd.Series,
                sizes: pd.Series, columns: list[str]) -> None:
    """Secondary suppression: a single hidden row beside a shown total could be recovered by
    subtraction, so the smallest other row of the same group (by ``sizes``) is hidden too."""
    hidden = hidden.astype(bool)
    others = (detail & ~hidden).astype(bool)
    if int((detail & hidden).sum()) == 1 and others.any():
        _hide(frame, sizes[others].astype(float).idxmin(), columns)


def _hide(frame: pd.DataFrame, index: Any, columns: list[str]) -> None:
    marker: Any = SUPPRESSED  # object columns hold it; pandas-stubs only know scalars
    for col in columns:
        frame.at[index, col] = marker


def _hide_rows(frame: pd.DataFrame, mask: pd.Series, columns: list[str]) -> None:
    for i in frame.index[mask.astype(bool)]:
        _hide(frame, i, columns)


def _with_total(segments: pd.DataFrame) -> pd.DataFrame:
    """Append the all-segments row so the summary never re-adds suppressed cells."""
    total: dict[str, Any] = {"segment": None}
    for col in segments.columns[1:]:
        total[col] = segments[col].sum() if col != "share" else 1.0
    for col, base in (("avg_recency_days", "buyers"), ("avg_frequency", "customers"),
                      ("avg_monetary", "customers")):
        weight = segments[base]
        total[col] = (segments[col] * weight).sum() / weight.sum() if weight.sum() else None
    out = segments.assign(is_total=False)
    return pd.concat([out, pd.DataFrame([total | {"is_total": True}])], ignore_index=True)


@dataclass(frozen=True)
class Formatter:
    """The report's figures in its locale (see :mod:`crmreport.localisation`).

    ``locale`` defaults to the language's (de -> de_DE, en -> en_GB); an unknown one falls
    back to it. Suppressed figures show as "–", undefined ones as the language's "n/a".
    """

    language: str = "en"
    locale: str | None = None
    currency: str = "EUR"

    @classmethod
    def for_report(cls, definition: Report) -> Formatter:
        return cls(definition.language, definition.locale, definition.currency)

    @cached_property
    def babel_locale(self) -> Locale:
        return localisation.resolve(self.locale, Locale.parse(LOCALES[self.language]))

    @property
    def missing(self) -> str:
        return LABELS[self.language]["missing"]

    def _blank(self, value: Any) -> str | None:
        """The text of a suppressed or undefined figure, None for a real one."""
        if value is SUPPRESSED:
            return "–"
        return self.missing if is_missing(value) else None

    def number(self, value: Any, decimals: int = 0) -> str:
        blank = self._blank(value)
        return blank if blank is not None else localisation.number(value, decimals,
                                                                    self.babel_locale)

    def integer(self, value: Any) -> str:
        return self.number(value, 0)

    def percent(self, value: Any, decimals: int = 1) -> str:
        blank = self._blank(value)
        return blank if blank is not None else localisation.percent(value, decimals,
                                                                     self.babel_locale)

    def money(self, value: Any) -> str:
        blank = self._blank(value)
        return blank if blank is not None else localisation.money(value, self.currency,
                                                                   self.babel_locale)

    def points(self, value: Any, decimals: int = 1) -> str:
        """A difference of rates in percentage points, signed."""
        blank = self._blank(value)
        if blank is not None:
            return blank
        rounded = localisation.round_half_up(localisation.to_decimal(value) * 100, decimals)
        sign = "+" if rounded > 0 else ""
        return f"{sign}{self.number(rounded, decimals)} {LABELS[self.language]['pp']}"

    def pvalue(self, value: Any) -> str:
        blank = self._blank(value)
        if blank is not None:
            return blank
        if float(value) < 0.001:
            return "< " + self.number(Decimal("0.001"), 3)
        return self.number(value, 3)

    def date(self, value: dt.date) -> str:
        return localisation.date(value, self.babel_locale)

    def month(self, value: dt.date) -> str:
        return localisation.month(value, self.babel_locale)

    def reason(self, text: str | None, code: ModelReason | None) -> str:
        """Why a model gave no figures, in the report's language: its code's words with the
        numbers and dates in the locale; the given text when there is no code."""
        if code is None:
            return text or self.missing
        t = LABELS[self.language]
        params: dict[str, str] = {}
        for key, value in code.params.items():
            if key == "split":
                params[key] = t["split_" + str(value)]
            elif isinstance(value, dt.date):
                params[key] = self.date(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                params[key] = self.integer(value)
            else:
                params[key] = str(value)
        return t["model_reason_" + code.code].format(**params)

    @property
    def currency_symbol(self) -> str:
        return str(get_currency_symbol(self.currency.upper(), locale=self.babel_locale))

    @property
    def plotly_separators(self) -> str:
        return localisation.separators(self.babel_locale)
