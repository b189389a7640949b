"""The report's plotly figures, built from suppressed aggregates only.

Deterministic by construction: fixed colours from the Branding, explicit layout (no theme
template, whose defaults can change between plotly versions), no random ids. Suppressed or
undefined figures are plotted as gaps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crmreport.config.models import Branding
from crmreport.monitor import Monitoring, ValueSummary
from crmreport.report.format import SUPPRESSED, Formatter, as_float
from crmreport.report.labels import LABELS

GREY = "#9aa5b1"
GRID = "#e3e7eb"
INCOMPLETE = "#fff4e0"
HEIGHT = 380  # a chart's height in pixels (the cohorts' heatmap: see cohort_height)


def make_charts(m: Monitoring, branding: Branding, fmt: Formatter) -> dict[str, go.Figure]:
    """Every chart of the report by stable name (also the div id in the HTML)."""
    return {name: make() for name, make in chart_makers(m, branding, fmt).items()}


def chart_makers(m: Monitoring, branding: Branding,
                 fmt: Formatter) -> dict[str, Callable[[], go.Figure]]:
    """What :func:`make_charts` makes, each chart still to be made: which charts there are
    is known before any is made."""
    # the campaign totals of the results table, suppressed the same way as beside the charts
    totals = m.response if m.results is None else m.results.rows[
        m.results.rows["dimension"] == "total"].assign(is_total=True)
    makers: dict[str, Callable[[], go.Figure]] = {
        "chart-uplift": partial(uplift_chart, totals, branding, fmt),
        "chart-rates": partial(rates_chart, totals, branding, fmt),
        "chart-cohorts": partial(cohort_heatmap, m.cohorts, branding, fmt),
        "chart-retention": partial(retention_chart, m.retention, branding, fmt),
        "chart-segments": partial(segment_chart, m.segments, branding, fmt),
    }
    if m.value.reason is None:
        makers["chart-clv"] = partial(clv_chart, m.value, branding, fmt)
        makers["chart-clv-segments"] = partial(clv_segment_chart, m.value, branding, fmt)
        if len(m.value.fit):
            makers["chart-fit"] = partial(_fit_chart, m.value.fit, branding, fmt)
    if m.churn is not None and m.churn.bands:
        makers["chart-churn"] = partial(churn_chart, m.churn.bands, branding, fmt)
    return makers


def chart_heights(m: Monitoring, names: Iterable[str]) -> dict[str, int]:
    """The height in pixels of each chart of ``names`` (from :func:`chart_makers`), known
    before any is made: the PDF's layout takes it while the charts are drawn."""
    return {name: cohort_height(m.cohorts) if name == "chart-cohorts" else HEIGHT
            for name in names}


def churn_chart(bands: list[dict[str, Any]], branding: Branding, fmt: Formatter) -> go.Figure:
    """The churn-risk distribution: customers per risk band (suppressed bands as gaps)."""
    t = LABELS[fmt.language]
    names = [f"{fmt.percent(b['low'], 0)}–{fmt.percent(b['high'], 0)}" for b in bands]
    fig = go.Figure(go.Bar(x=names, y=_floats([b["customers"] for b in bands]),
                           marker_color=branding.accent_color))
    fig.update_xaxes(title=t["churn_band"], type="category")
    fig.update_yaxes(title=t["customers"], tickformat=",d")
    return _layout(fig, branding, fmt, t["churn_chart"])


def _layout(fig: go.Figure, branding: Branding, fmt: Formatter, title: str) -> go.Figure:
    fig.update_layout(
        template="none",
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        font={"family": branding.font_family, "size": 12, "color": "#222222"},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        separators=fmt.plotly_separators,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        height=HEIGHT,
    )
    fig.update_xaxes(showgrid=False, linecolor=GREY, automargin=True)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GREY, automargin=True)
    return fig


def _totals(response: pd.DataFrame) -> pd.DataFrame:
    return response[response["is_total"].astype(bool)]


def _floats(values: Any) -> list[float | None]:
    return [as_float(v) for v in values]


def _minus(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def uplift_chart(response: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    totals = _totals(response)
    mid = _floats(totals["uplift_abs"])
    low, high = _floats(totals["ci_low"]), _floats(totals["ci_high"])
    up = [_minus(h, m) for h, m in zip(high, mid, strict=True)]
    down = [_minus(m, lo) for lo, m in zip(low, mid, strict=True)]
    fig = go.Figure(go.Bar(
        x=list(totals["campaign"]), y=mid, marker_color=branding.primary_color,
        error_y={"type": "data", "array": up, "arrayminus": down, "color": "#333333"},
        name=LABELS[fmt.language]["uplift"],
    ))
    fig.update_yaxes(tickformat=".0%", title=LABELS[fmt.language]["uplift"])
    fig.update_xaxes(title=LABELS[fmt.language]["campaign"])
    return _layout(fig, branding, fmt, LABELS[fmt.language]["uplift_chart"])


def rates_chart(response: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    totals, t = _totals(response), LABELS[fmt.language]
    fig = go.Figure([
        go.Bar(x=list(totals["campaign"]), y=_floats(totals["rate_t"]), name=t["treatment"],
               marker_color=branding.primary_color),
        go.Bar(x=list(totals["campaign"]), y=_floats(totals["rate_c"]), name=t["control"],
               marker_color=GREY),
    ])
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", title=t["response_rate"])
    fig.update_xaxes(title=t["campaign"])
    return _layout(fig, branding, fmt, t["rates_chart"])


def cohort_heatmap(cohorts: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    """Shares by cohort (rows) and month k (columns); incomplete cells carry a '*', a
    left-censored cohort's label a '†'."""
    t = LABELS[fmt.language]
    rows = sorted(set(cohorts["cohort"]))
    censored = set(cohorts.loc[cohorts["left_censored"].astype(bool), "cohort"])
    ks = sorted(set(cohorts["k"]))
    z: list[list[float | None]] = [[None] * len(ks) for _ in rows]
    text = [[""] * len(ks) for _ in rows]
    for r in cohorts.itertuples():
        i, j = rows.index(r.cohort), ks.index(r.k)
        z[i][j] = as_float(r.share)
        share: object = r.share  # SUPPRESSED or a number; pandas-stubs know only scalars
        label = "–" if share is SUPPRESSED else fmt.percent(share, 0)
        text[i][j] = label + ("*" if not r.complete else "")
    # The scale spans the later months' shares (month 0 is 100% by definition), so the
    # differences that matter get the colours; month 0 shows at the top colour.
    later = [v for row in z for v in row[1:] if v is not None]
    top = max(later) if later else 1.0
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(k) for k in ks], y=[_cohort_label(c, censored, fmt) for c in rows], text=text,
        texttemplate="%{text}", zmin=0, zmax=top or 1.0, hoverongaps=False, xgap=1, ygap=1,
        colorscale=[[0, "#ffffff"], [1, branding.primary_color]],
        colorbar={"tickformat": ".0%", "title": {"text": t["share"]}, "thickness": 14,
                  "len": 0.9, "outlinewidth": 0},
    ))
    fig.update_yaxes(autorange="reversed", type="category", title=t["cohort"])
    fig.update_xaxes(type="category", title=t["month_k"])
    fig = _layout(fig, branding, fmt, t["cohort_chart"])
    fig.update_layout(height=cohort_height(cohorts))
    return fig


def cohort_height(cohorts: pd.DataFrame) -> int:
    """The cohorts' heatmap's height in pixels: a row per cohort."""
    return max(300, 60 + 26 * len(set(cohorts["cohort"])))


def _cohort_label(cohort: dt.date, censored: set[dt.date], fmt: Formatter) -> str:
    return fmt.month(cohort) + (" †" if cohort in censored else "")


def retention_chart(curve: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    t = LABELS[fmt.language]
    later = curve[curve["k"] > 0]  # month 0 is 100% by definition
    fig = go.Figure(go.Scatter(
        x=list(later["k"]), y=_floats(later["retention"]), mode="lines+markers",
        line={"color": branding.primary_color}, name=t["retention_rate"],
    ))
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title=t["retention_rate"])
    fig.update_xaxes(title=t["month_k"], dtick=1)
    return _layout(fig, branding, fmt, t["curve_chart"])


def segment_chart(segments: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    t = LABELS[fmt.language]
    rows = segments[~segments["is_total"].astype(bool)]
    names = list(rows["segment"])
    fig = make_subplots(rows=1, cols=2, subplot_titles=(t["customers"], t["total_monetary"]))
    fig.add_trace(go.Bar(x=names, y=_floats(rows["customers"]), showlegend=False,
                         marker_color=branding.primary_color), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=_floats(rows["total_monetary"]), showlegend=False,
                         marker_color=branding.accent_color), row=1, col=2)
    fig.update_xaxes(title=t["segment"])
    fig.update_yaxes(title=t["customers"], tickformat=",d", row=1, col=1)
    fig.update_yaxes(title=_money_axis(t["total_monetary"], fmt), tickformat=",.0f", row=1,
                     col=2)
    return _layout(fig, branding, fmt, t["segment_chart"])


def _money_axis(title: str, fmt: Formatter) -> str:
    """An axis title with the currency, since the ticks are bare numbers: Total value (€)."""
    return f"{title} ({fmt.currency_symbol})"


def clv_chart(value: ValueSummary, branding: Branding, fmt: Formatter) -> go.Figure:
    """Customers per band of customer lifetime value."""
    t = LABELS[fmt.language]
    bands = [f"{fmt.integer(lo)}–{fmt.integer(hi)}" if hi == hi and hi is not None
             else f"≥ {fmt.integer(lo)}" for lo, hi in zip(value.distribution["low"],
                                                          value.distribution["high"],
                                                          strict=True)]
    dist = go.Figure(go.Bar(x=bands, y=_floats(value.distribution["customers"]),
                            marker_color=branding.primary_color))
    dist.update_xaxes(title=t["clv_band"], type="category")
    dist.update_yaxes(title=t["customers"], tickformat=",d")
    return _layout(dist, branding, fmt, t["clv_chart"])


def clv_segment_chart(value: ValueSummary, branding: Branding, fmt: Formatter) -> go.Figure:
    """Average lifetime value and probability of being alive per segment, side by side."""
    t = LABELS[fmt.language]
    seg = value.by_segment
    by_segment = make_subplots(rows=1, cols=2, subplot_titles=(t["avg_clv"], t["avg_p_alive"]))
    by_segment.add_trace(go.Bar(x=list(seg["segment"]), y=_floats(seg["avg_clv"]),
                                showlegend=False, marker_color=branding.primary_color),
                         row=1, col=1)
    by_segment.add_trace(go.Bar(x=list(seg["segment"]), y=_floats(seg["avg_p_alive"]),
                                showlegend=False, marker_color=branding.accent_color),
                         row=1, col=2)
    by_segment.update_xaxes(title=t["segment"])
    by_segment.update_yaxes(title=_money_axis(t["avg_clv"], fmt), tickformat=",.0f", row=1,
                            col=1)
    by_segment.update_yaxes(title=t["avg_p_alive"], tickformat=".0%", row=1, col=2)
    return _layout(by_segment, branding, fmt, t["clv_segment_chart"])


def _fit_chart(fit: pd.DataFrame, branding: Branding, fmt: Formatter) -> go.Figure:
    from crmreport.monitor.value_summary import HOLDOUT_WEEKS

    t = LABELS[fmt.language]
    labels = list(fit["calibration_frequency"])
    fig = go.Figure([
        go.Bar(name=t["actual"], x=labels, y=_floats(fit["actual"]),
               marker_color=branding.primary_color),
        go.Bar(name=t["predicted"], x=labels, y=_floats(fit["predicted"]),
               marker_color=branding.accent_color),
    ])
    fig.update_layout(barmode="group")
    fig.update_xaxes(title=t["calibration_frequency"], type="category")
    fig.update_yaxes(title=t["purchases_per_customer"])
    return _layout(fig, branding, fmt, t["fit_chart"].format(weeks=HOLDOUT_WEEKS))
