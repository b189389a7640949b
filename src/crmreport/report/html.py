"""The report as one self-contained HTML file, and the shared page context the PDF reuses.

Everything shown is formatted here from suppressed aggregates, so the templates only place
strings. plotly.js is inlined once in <head>; each chart is a div with a stable id.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import mimetypes
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from markupsafe import Markup

from crmreport.config.models import Report
from crmreport.errors import RenderError
from crmreport.files import write_text
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.reasons import label
from crmreport.report.charts import make_charts
from crmreport.report.format import SUPPRESSED, Formatter, as_float
from crmreport.report.labels import DEFINITIONS, LABELS
from crmreport.report.results import (
    campaign_totals,
    migration_context,
    results_context,
    value_verdict,
)
from crmreport.report.summary import (
    change_text,
    figures,
    period_dates,
    period_label,
    sentences,
    sparkline,
    value_text,
)

# Customer equity's previous-period cell: none exists, the footnote (equity_note) says why.
NO_HISTORY = "—¹"
# Shipped as package data; a campaign's own template_dir/report/ replaces them.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def write_html(
    monitoring: Monitoring, definition: Report, out_dir: Path, base_dir: Path | None = None,
    template_dir: Path | None = None, summary: PeriodSummary | None = None,
    figures: Mapping[str, go.Figure] | None = None, context: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``report.html``; ``monitoring`` must already be suppressed. ``figures`` are its
    charts and ``context`` its page_context without them (default: made here)."""
    if figures is None:
        figures = make_charts(monitoring, definition.branding, Formatter.for_report(definition))
    if context is None:
        context = page_context(monitoring, definition, {}, base_dir, summary)
    charts = {name: _chart_div(fig, name) for name, fig in figures.items()}
    context = {**context, "charts": charts, "plotlyjs": plotly.offline.get_plotlyjs()}
    path = out_dir / "report.html"
    write_text(path, render(context, "html", template_dir))
    return path


def _chart_div(fig: go.Figure, name: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=name,
                           config={"displaylogo": False, "responsive": True}))


def render(context: Mapping[str, Any], mode: str, template_dir: Path | None = None) -> str:
    try:
        return _environment(template_dir).get_template("report.html.j2").render(**context,
                                                                                mode=mode)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"report template {exc.name} not found in {template_dir or TEMPLATE_DIR}; "
            "pass template_dir or reinstall crmreport"
        ) from None


@functools.lru_cache(maxsize=8)
def _environment(template_dir: Path | None) -> jinja2.Environment:
    """The templates of ``template_dir``, each compiled once (about 0.1 s for the bundled
    ones) for the PDF's page and the HTML; a changed file is compiled again."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir or TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def compile_templates(template_dir: Path | None = None) -> None:
    """Compile the report's templates ahead of :func:`render` (e.g. in a thread while the
    monitoring's queries run); a template that cannot be loaded is left for it to report."""
    env = _environment(template_dir)
    with contextlib.suppress(Exception):
        for name in env.list_templates(extensions=["j2"]):
            env.get_template(name)


def page_context(
    m: Monitoring, definition: Report, charts: Mapping[str, str], base_dir: Path | None,
    summary: PeriodSummary | None = None,
) -> dict[str, Any]:
    fmt, t = Formatter.for_report(definition), LABELS[definition.language]
    return {
        "title": definition.title,
        "orientation": definition.orientation,
        "period": period_label(summary.current.period, fmt) if summary else None,
        "lang": definition.language,
        "branding": definition.branding,
        "css_font": _css_font(definition.branding.font_family),
        "css_name": _css_string(definition.branding.name),
        "logo": _logo(definition.branding.logo, base_dir),
        "t": t,
        "as_of": fmt.date(m.as_of),
        "as_of_iso": m.as_of.isoformat(),
        "window_days": m.window_days,
        "sections": list(definition.sections),
        "suppressed_note": t["suppressed_note"].format(k=definition.min_cell_size),
        "charts": charts,
        "generator": "crmreport",
        "summary": _summary(m, fmt, t),
        "executive": executive(summary, m, definition, fmt) if summary else None,
        "definition": DEFINITIONS[definition.language],
        "retention": [
            {"k": int(r["k"]), "customers": fmt.integer(r["customers"]),
             "retention": fmt.percent(r["retention"]), "churn": fmt.percent(r["churn"])}
            for r in m.retention.to_dict("records")
        ],
        "cohort_sizes": _cohort_sizes(m.cohorts, fmt),
        "cohort_notes": _cohort_notes(m, fmt, t),
        "segments": _segments(m.segments, fmt, t),
        "quality": _quality(m, fmt, t),
        "value": _value(m, fmt, t),
        "churn": _churn(m, fmt, t),
        "results": results_context(m.results, fmt, t),
        "migration": migration_context(m.migration, fmt, t),
        "clv_verdict": value_verdict(m.value, fmt, t),
        "results_suppressed_note": t["results_suppression"].format(k=definition.min_cell_size),
    }


def _css_font(family: str) -> Markup:
    """A font-family list fit for a <style> block: entities are not decoded there."""
    return Markup(re.sub(r"[^\w ,.'\"-]", "", family))


def _css_string(text: str) -> Markup:
    """A quoted CSS string (for @page margin boxes), safe inside <style>."""
    return Markup('"' + "".join(c if c.isalnum() or c in " .,-_&" else f"\\{ord(c):x} "
                                for c in text) + '"')


def _logo(logo: str | None, base_dir: Path | None) -> str | None:
    """The logo as a data URI, so the HTML stays one file."""
    if not logo:
        return None
    path = Path(logo) if Path(logo).is_absolute() else (base_dir or Path.cwd()) / logo
    if not path.is_file():
        raise RenderError(f"branding logo {path} not found; fix branding.logo in the report file")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _response_row(r: Mapping[Any, Any], fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    total = bool(r["is_total"])
    return {
        "total": total,
        "campaign": r["campaign"],
        "segment": t["total"] if total else r["segment"],
        "channel": "" if total else r["channel"],
        "contacted": fmt.integer(r["contacted"]),
        "control": fmt.integer(r["control"]),
        "responders_t": fmt.integer(r["responders_t"]),
        "responders_c": fmt.integer(r["responders_c"]),
        "rate_t": fmt.percent(r["rate_t"]),
        "rate_c": fmt.percent(r["rate_c"]),
        "uplift": fmt.points(r["uplift_abs"]),
        "uplift_rel": fmt.percent(r["uplift_rel"], 0),
        "ci": _interval(r["ci_low"], r["ci_high"], fmt),
        "p_value": fmt.pvalue(r["p_value"]),
        "significant": _significant(r["ci_low"], r["ci_high"], t),
        "rev_t": fmt.money(r["rev_per_contact_t"]),
        "rev_c": fmt.money(r["rev_per_contact_c"]),
        "incremental": fmt.money(r["incremental_revenue"]),
        "cost": fmt.money(r["cost"]),
        "roi": fmt.percent(r["roi"], 0),
    }


def _significant(low: Any, high: Any, t: Mapping[str, str]) -> str:
    """yes when the 95% interval of the uplift excludes zero."""
    if as_float(low) is None or as_float(high) is None:
        return "–"
    return t["yes"] if float(low) > 0 or float(high) < 0 else t["not"]


def executive(summary: PeriodSummary, m: Monitoring, definition: Report,
              fmt: Formatter) -> dict[str, Any]:
    """The executive summary: the period, its key figures with change and trend, sentences."""
    t = LABELS[fmt.language]
    totals = campaign_totals(m.results)
    figs = figures(summary, definition.min_cell_size, totals)
    rows = [{
        "label": t["fig_" + f.key],
        "value": value_text(f, f.value, fmt),
        "previous": value_text(f, f.previous, fmt) if f.key != "equity" else NO_HISTORY,
        "change": change_text(f, fmt),
        "trend": Markup(sparkline(f.values, definition.branding.primary_color)),
    } for f in figs]
    current = summary.current.period
    segmented = m.segments[m.segments["is_total"].astype(bool)]["customers"].tolist()
    counts = (t["counts_note"].format(all=fmt.integer(segmented[0]),
                                      valued=fmt.integer(m.value.customers))
              if segmented and m.value.reason is None else None)
    return {
        "counts_note": counts,
        "period": period_label(current, fmt),
        "dates": period_dates(current, fmt),
        "previous": period_label(current.previous(), fmt),
        "rows": rows,
        "trend_header": t["trend"].format(n=len(summary.periods)),
        "sentences": sentences(summary, figs, totals, fmt),
    }


def _interval(low: Any, high: Any, fmt: Formatter) -> str:
    """The CI of a rate difference, in percentage points like the uplift beside it."""
    if low is SUPPRESSED or high is SUPPRESSED:
        return "–"
    if low is None or high is None:
        return fmt.missing
    unit = LABELS[fmt.language]["pp"]
    return f"[{fmt.number(low * 100, 1)}; {fmt.number(high * 100, 1)}] {unit}"


def _cohort_sizes(cohorts: pd.DataFrame, fmt: Formatter) -> list[dict[str, str]]:
    first = cohorts[cohorts["k"] == 0]
    return [{"cohort": fmt.month(r["cohort"]), "size": fmt.integer(r["cohort_size"])}
            for r in first.to_dict("records")]


def _cohort_notes(m: Monitoring, fmt: Formatter, t: Mapping[str, str]) -> list[str]:
    """Which months are shown, and the footnote on a left-censored cohort when one is."""
    if m.window is None:
        return []
    if m.cohorts.empty:
        return [t["no_cohorts"]]
    w = m.window
    notes = [t["cohort_window"].format(first=fmt.month(w.first), last=fmt.month(w.last),
                                       end=fmt.month(w.data_end))]
    if m.cohorts["left_censored"].astype(bool).any():
        notes.append(t["censored_note"].format(month=fmt.month(m.window.data_start)))
    return notes


def _segments(segments: pd.DataFrame, fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    offers = [c for c in segments.columns if c.startswith("offer:")]
    rows = []
    for r in segments.to_dict("records"):
        rows.append({
            "total": bool(r["is_total"]),
            "segment": t["total"] if r["is_total"] else r["segment"],
            "customers": fmt.integer(r["customers"]),
            "share": fmt.percent(r["share"]),
            "avg_recency": fmt.number(r["avg_recency_days"], 0),
            "avg_frequency": fmt.number(r["avg_frequency"], 1),
            "avg_monetary": fmt.money(r["avg_monetary"]),
            "total_monetary": fmt.money(r["total_monetary"]),
            "offers": [fmt.integer(r[c]) for c in offers],
        })
    names = [c.removeprefix("offer:") for c in offers]
    names = [t["no_offer"] if n == "(none)" else n for n in names]
    return {"rows": rows, "offers": names}


def _value(m: Monitoring, fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    from crmreport.monitor.value_summary import HOLDOUT_WEEKS

    v = m.value
    if v.reason is not None:
        reason = t["not_computed"] if v.reason == "not computed" else fmt.reason(
            v.reason, v.reason_code)
        return {"unavailable": t["clv_unavailable"].format(reason=reason)}
    # Totals over every valued customer; hidden segments are in them, not beside them.
    figures = [(t["equity"], fmt.money(v.equity)),
               (t["avg_clv"], fmt.money(v.equity / v.customers
                                        if v.customers and v.equity is not None else None)),
               (t["customers"], fmt.integer(v.customers))]
    rows = [{"segment": r["segment"], "customers": fmt.integer(r["customers"]),
             "avg_p_alive": fmt.percent(r["avg_p_alive"]), "avg_clv": fmt.money(r["avg_clv"]),
             "equity": fmt.money(r["equity"])} for r in v.by_segment.to_dict("records")]
    fit = [{"frequency": r["calibration_frequency"], "customers": fmt.integer(r["customers"]),
            "actual": fmt.number(r["actual"], 2), "predicted": fmt.number(r["predicted"], 2)}
           for r in v.fit.to_dict("records")]
    params = ", ".join(f"{k} = {fmt.number(val, 3)}" for k, val in v.params.items())
    return {"unavailable": None, "figures": figures, "rows": rows, "fit": fit,
            "fit_reason": fmt.reason(v.fit_reason, v.fit_reason_code) if v.fit_reason else None,
            "params": params,
            "definition": t["clv_definition"].format(weeks=HOLDOUT_WEEKS)}


def _churn(m: Monitoring, fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any] | None:
    """The churn model's check, its risk bands and, if BG/NBD sees no dropout, that in words."""
    c = m.churn
    if c is None:
        return None
    note = (t["churn_no_dropout"].format(p=fmt.number(c.btyd_dropout_per_purchase, 4),
                                         n=fmt.integer(c.btyd_below_half))
            if c.btyd_no_dropout else None)
    if c.reason is not None:
        return {"unavailable": t["churn_unavailable"].format(
            reason=fmt.reason(c.reason, c.reason_code)), "note": note}
    figures = [(t["churn_auc"], fmt.number(c.auc, 3)),
               (t["churn_precision"], fmt.percent(c.precision_top_decile)),
               (t["churn_brier"], fmt.number(c.brier, 3))]
    bands = [{"band": f"{fmt.percent(b['low'], 0)} – {fmt.percent(b['high'], 0)}",
              "customers": fmt.integer(b["customers"])} for b in c.bands]
    definition = t["churn_definition"].format(
        days=c.horizon_days, train=fmt.date(dt.date.fromisoformat(c.train_cutoff or "")),
        check=fmt.date(dt.date.fromisoformat(c.check_cutoff or "")),
        customers=fmt.integer(c.check_customers), rate=fmt.percent(c.check_churn_rate))
    return {"unavailable": None, "note": note, "figures": figures, "bands": bands,
            "definition": definition}


def _quality(m: Monitoring, fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    files = m.account.files
    rows = [{
        "path": Path(f.path).name if Path(f.path).is_absolute() else f.path,
        "table": t.get(f"table_{f.table}", f.table), "rows_in": fmt.integer(f.rows_in),
        "loaded": fmt.integer(f.loaded), "merged": fmt.integer(f.merged),
        "quarantined": fmt.integer(f.quarantined),
        "reasons": [f"{label(reason, fmt.language)}: {fmt.integer(n)}"
                    for reason, n in sorted(f.reasons.items())],
        "balanced": t["yes"] if f.balanced else t["no"], "ok": f.balanced,
    } for f in files]
    ok = all(f.balanced for f in files)
    status = t["dq_none"] if not files else t["dq_ok"] if ok else t["dq_bad"]
    return {"rows": rows, "ok": ok, "status": status}


def _summary(m: Monitoring, fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    segments = m.segments[m.segments["is_total"].astype(bool)]
    customers = segments["customers"].iloc[0] if len(segments) else None
    month1 = m.retention[m.retention["k"] == 1]["retention"]
    files = m.account.files
    rows_in = sum(f.rows_in for f in files)
    quarantined = sum(f.quarantined for f in files)
    figures = [
        (t["customers_segmented"], fmt.integer(customers)),
        (t["month1"], fmt.percent(month1.iloc[0]) if len(month1) else fmt.missing),
        (t["rows_quarantined"],
         f"{fmt.integer(quarantined)} / {fmt.integer(rows_in)}" if files else fmt.missing),
    ]
    campaigns = [_response_row(r, fmt, t) for r in campaign_totals(m.results)]
    return {"figures": figures, "campaigns": campaigns}
