"""Labels, number/date formats (en/de) and small-cell suppression for the report.

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
from typing import Any

import pandas as pd

from crmreport.monitor import Monitoring, ValueSummary, retention_curve


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
    response = _suppress_response(monitoring.response, k)
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
    )


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


def _suppress_response(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    response = frame.astype(object)
    few_t, few_c = frame["contacted"] < k, frame["control"] < k
    for i in response.index:
        _hide(response, i, _TREATED if few_t[i] else [])
        _hide(response, i, _CONTROL if few_c[i] else [])
        _hide(response, i, _BOTH if few_t[i] or few_c[i] else [])
    # Money made by fewer than k responders would show what a handful of people spent.
    for responders, money in (("responders_t", "rev_per_contact_t"),
                              ("responders_c", "rev_per_contact_c")):
        _hide_rows(response, _few(frame[responders], k),
                   [responders, money, "incremental_revenue", "roi"])
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


LABELS: dict[str, dict[str, str]] = {
    "en": {
        "summary": "Executive summary", "response": "Campaign response",
        "retention": "Retention", "segments": "Segments", "data_quality": "Data quality",
        "as_of": "As of", "window": "Response window", "days": "days",
        "campaign": "Campaign", "segment": "Segment", "channel": "Channel", "total": "Total",
        "contacted": "Contacted", "control": "Control", "responders": "Responders",
        "rate_t": "Rate (treatment)", "rate_c": "Rate (control)", "uplift": "Uplift",
        "uplift_rel": "Relative uplift", "ci": "95% CI", "p_value": "p-value",
        "rev_t": "Revenue / contact (treatment)", "rev_c": "Revenue / contact (control)",
        "incremental": "Incremental revenue", "cost": "Cost", "roi": "ROI",
        "treatment": "Treatment", "cohort": "Cohort", "cohort_size": "Customers",
        "month_k": "Months since first order", "retention_rate": "Retention",
        "churn": "Churn", "customers": "Customers", "share": "Share",
        "avg_recency": "Avg. recency (days)", "avg_frequency": "Avg. frequency",
        "avg_monetary": "Avg. value", "total_monetary": "Total value", "offers": "Offers",
        "file": "File", "table": "Table", "rows_in": "Rows in", "loaded": "Loaded",
        "merged": "Merged", "quarantined": "Quarantined", "reasons": "Reasons",
        "balanced": "Adds up", "yes": "yes", "no": "NO",
        "dq_ok": "Every input row is accounted for: rows in = loaded + merged + quarantined.",
        "dq_bad": "Some files do not add up: rows in ≠ loaded + merged + quarantined.",
        "dq_none": "No input files recorded.",
        "suppressed_note": "– = fewer than {k} customers, suppressed. n/a = not defined.",
        "incomplete_note": "* month not yet complete at the as-of date; the share may grow.",
        "key_figures": "Key figures", "customers_segmented": "Customers segmented",
        "month1": "Retention in month 1", "rows_quarantined": "Input rows quarantined",
        "no_data": "No data.", "definition": "Definition",
        "uplift_chart": "Uplift by campaign (95% CI)",
        "rates_chart": "Response rate: treatment vs control",
        "cohort_chart": "Cohort retention", "curve_chart": "Retention by months since first order",
        "segment_chart": "Segment sizes and value", "pp": "pp", "generated": "Generated by",
        "no_offer": "no offer",
        "clv": "Customer value", "equity": "Customer equity (52 weeks)",
        "avg_clv": "Avg. CLV (52 weeks)", "avg_p_alive": "Avg. P(alive)",
        "clv_unavailable": "Customer value figures are unavailable: {reason}",
        "clv_band": "CLV band", "clv_chart": "Customers by predicted 52-week value",
        "clv_segment_chart": "Predicted value by segment",
        "fit_chart": "Model check: purchases in the last {weeks} weeks, actual vs predicted",
        "calibration_frequency": "Repeat purchases before", "actual": "Actual",
        "predicted": "Predicted", "model": "Model",
        "clv_definition": "BG/NBD (purchase count, P(alive)) and Gamma-Gamma (spend) fitted "
                          "on completed orders; value = discounted expected spend of the next "
                          "52 weeks at 10% a year. Model check: fitted without the last {weeks} "
                          "weeks, then compared with them, by number of repeat purchases.",
    },
    "de": {
        "summary": "Zusammenfassung", "response": "Kampagnenerfolg",
        "retention": "Kundenbindung", "segments": "Segmente", "data_quality": "Datenqualität",
        "as_of": "Stand", "window": "Reaktionsfenster", "days": "Tage",
        "campaign": "Kampagne", "segment": "Segment", "channel": "Kanal", "total": "Gesamt",
        "contacted": "Kontaktiert", "control": "Kontrollgruppe", "responders": "Reagierer",
        "rate_t": "Quote (Test)", "rate_c": "Quote (Kontrolle)", "uplift": "Uplift",
        "uplift_rel": "Relativer Uplift", "ci": "95%-KI", "p_value": "p-Wert",
        "rev_t": "Umsatz / Kontakt (Test)", "rev_c": "Umsatz / Kontakt (Kontrolle)",
        "incremental": "Zusatzumsatz", "cost": "Kosten", "roi": "ROI",
        "treatment": "Test", "cohort": "Kohorte", "cohort_size": "Kunden",
        "month_k": "Monate seit Erstkauf", "retention_rate": "Bindungsquote",
        "churn": "Abwanderung", "customers": "Kunden", "share": "Anteil",
        "avg_recency": "Ø Recency (Tage)", "avg_frequency": "Ø Frequenz",
        "avg_monetary": "Ø Wert", "total_monetary": "Gesamtwert", "offers": "Angebote",
        "file": "Datei", "table": "Tabelle", "rows_in": "Zeilen ein", "loaded": "Geladen",
        "merged": "Zusammengeführt", "quarantined": "Quarantäne", "reasons": "Gründe",
        "balanced": "Stimmt", "yes": "ja", "no": "NEIN",
        "dq_ok": "Jede Eingabezeile ist erfasst: Zeilen ein = geladen + zusammengeführt + "
                 "Quarantäne.",
        "dq_bad": "Einige Dateien gehen nicht auf: Zeilen ein ≠ geladen + zusammengeführt + "
                  "Quarantäne.",
        "dq_none": "Keine Eingabedateien erfasst.",
        "suppressed_note": "– = weniger als {k} Kunden, unterdrückt. k. A. = nicht definiert.",
        "incomplete_note": "* Monat zum Stichtag noch nicht abgeschlossen; der Anteil kann "
                           "noch steigen.",
        "key_figures": "Kennzahlen", "customers_segmented": "Segmentierte Kunden",
        "month1": "Bindung im Monat 1", "rows_quarantined": "Eingabezeilen in Quarantäne",
        "no_data": "Keine Daten.", "definition": "Definition",
        "uplift_chart": "Uplift je Kampagne (95%-KI)",
        "rates_chart": "Reaktionsquote: Test vs. Kontrolle",
        "cohort_chart": "Kohorten-Bindung", "curve_chart": "Bindung nach Monaten seit Erstkauf",
        "segment_chart": "Segmentgrößen und Wert", "pp": "Pp.", "generated": "Erstellt mit",
        "no_offer": "kein Angebot",
        "clv": "Kundenwert", "equity": "Kundenkapital (52 Wochen)",
        "avg_clv": "Ø CLV (52 Wochen)", "avg_p_alive": "Ø P(aktiv)",
        "clv_unavailable": "Kundenwerte sind nicht verfügbar: {reason}",
        "clv_band": "CLV-Band", "clv_chart": "Kunden nach erwartetem Wert (52 Wochen)",
        "clv_segment_chart": "Erwarteter Wert je Segment",
        "fit_chart": "Modellprüfung: Käufe der letzten {weeks} Wochen, tatsächlich vs. erwartet",
        "calibration_frequency": "Wiederholungskäufe zuvor", "actual": "Tatsächlich",
        "predicted": "Erwartet", "model": "Modell",
        "clv_definition": "BG/NBD (Kaufanzahl, P(aktiv)) und Gamma-Gamma (Warenkorbwert) auf "
                          "abgeschlossenen Bestellungen geschätzt; Wert = diskontierter "
                          "erwarteter Umsatz der nächsten 52 Wochen bei 10 % p. a. "
                          "Modellprüfung: ohne die letzten {weeks} Wochen geschätzt und mit "
                          "ihnen verglichen, nach Anzahl der Wiederholungskäufe.",
    },
}

DEFINITIONS = {
    "en": "Cohort = calendar month of a customer's first completed order. Cell (cohort, "
          "month k) = share of the cohort with at least one completed order in calendar month "
          "cohort + k. Only orders before the as-of date count; guest orders belong to no "
          "cohort.",
    "de": "Kohorte = Kalendermonat des ersten abgeschlossenen Kaufs. Zelle (Kohorte, Monat k) "
          "= Anteil der Kohorte mit mindestens einem abgeschlossenen Kauf im Kalendermonat "
          "Kohorte + k. Es zählen nur Käufe vor dem Stichtag; Gastbestellungen gehören zu "
          "keiner Kohorte.",
}

_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "de": ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"],
}


@dataclass(frozen=True)
class Formatter:
    """en: 1,234.5 and 2026-03-01; de: 1.234,5 and 01.03.2026."""

    language: str = "en"

    @property
    def missing(self) -> str:
        return "k. A." if self.language == "de" else "n/a"

    def number(self, value: Any, decimals: int = 0) -> str:
        if value is SUPPRESSED:
            return "–"
        if is_missing(value):
            return self.missing
        number = float(value)
        if round(number, decimals) == 0:
            number = 0.0  # no "-0.0"
        text = f"{number:,.{decimals}f}"
        return text.translate(str.maketrans(",.", ".,")) if self.language == "de" else text

    def integer(self, value: Any) -> str:
        return self.number(value, 0)

    def percent(self, value: Any, decimals: int = 1) -> str:
        if value is SUPPRESSED or is_missing(value):
            return self.number(value)
        text = self.number(float(value) * 100, decimals)
        return f"{text} %" if self.language == "de" else f"{text}%"

    def points(self, value: Any, decimals: int = 1) -> str:
        """A difference of rates in percentage points, signed."""
        if value is SUPPRESSED or is_missing(value):
            return self.number(value)
        text = self.number(float(value) * 100, decimals)
        sign = "+" if float(value) * 100 >= 0.5 * 10**-decimals else ""
        return f"{sign}{text} {LABELS[self.language]['pp']}"

    def pvalue(self, value: Any) -> str:
        if value is SUPPRESSED or is_missing(value):
            return self.number(value)
        if float(value) < 0.001:
            return "< " + self.number(0.001, 3)
        return self.number(value, 3)

    def date(self, value: dt.date) -> str:
        return value.strftime("%d.%m.%Y") if self.language == "de" else value.isoformat()

    def month(self, value: dt.date) -> str:
        return f"{_MONTHS[self.language][value.month - 1]} {value.year}"

    @property
    def plotly_separators(self) -> str:
        return ",." if self.language == "de" else ".,"
