"""The report as PDF: the same page rendered for print, charts as inline SVG from kaleido.

The charts are drawn by the one chart browser of the run (report/browser.py); the page is
laid out by WeasyPrint, in the typesetter process when there is one (report/typeset.py).
"""

from __future__ import annotations

import base64
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from crmreport.config.models import Report
from crmreport.errors import RenderError
from crmreport.files import write_bytes
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.progress import counted, stage
from crmreport.report.browser import FIX, browser
from crmreport.report.html import page_context, render

CHART_WIDTH = 900
# plotly.js gives every figure a random uid, used in its clip-path ids.
_UID = re.compile(r'id="defs-([0-9a-z]+)"')
# plotly's groups for the layers a chart does not use: empty, they draw nothing, and
# WeasyPrint's drawing takes its time per node (a quarter of the nodes of the demo's charts)
_EMPTY_GROUP = re.compile(r"<g(?: [^>]*)?/>|<g(?: [^>]*)?></g>")


def pdf_page(
    monitoring: Monitoring, definition: Report, base_dir: Path | None,
    template_dir: Path | None, summary: PeriodSummary | None, svgs: Mapping[str, str],
    context: Mapping[str, Any] | None = None,
) -> str:
    """The HTML the PDF is laid out from, its charts inline."""
    if context is None:
        context = page_context(monitoring, definition, {}, base_dir, summary)
    charts = {name: _img(svg, name) for name, svg in svgs.items()}
    return render({**context, "charts": charts}, "pdf", template_dir)


def write_pdf_bytes(out_dir: Path, pdf: bytes) -> Path:
    path = out_dir / "report.pdf"
    write_bytes(path, pdf)
    return path


def chart_svgs(figures: Mapping[str, go.Figure]) -> dict[str, str]:
    """Every figure as SVG text, with plotly's random uid replaced by the chart's name and
    without empty groups."""
    raw = render_images(figures, "svg")
    return {name: _lean(_stable(svg.decode("utf-8"), name)) for name, svg in raw.items()}


def render_images(figures: Mapping[str, go.Figure], kind: str) -> dict[str, bytes]:
    """Every figure as an image (svg or png) drawn by the chart browser."""
    with browser(), warnings.catch_warnings():
        # plotly passes kaleido options that a running server ignores, and says so.
        warnings.filterwarnings("ignore", "The kopts argument", UserWarning)
        try:
            with stage("charts", len(figures), "charts") as tick:
                return {name: fig.to_image(format=kind, width=fig.layout.width or CHART_WIDTH,
                                           height=fig.layout.height or 380)
                        for name, fig in counted(figures.items(), tick)}
        except Exception as exc:  # kaleido surfaces browser trouble as many types
            raise RenderError(f"could not draw the report charts ({exc}); {FIX}") from exc


def _stable(svg: str, name: str) -> str:
    match = _UID.search(svg)
    if not match:
        return svg
    # Only where plotly writes the uid: clip/legend/defs ids and gradient ids "g<uid>-...".
    uses = re.compile(r"(clip|legend|defs-|[#\"']g)" + re.escape(match.group(1)))
    return uses.sub(lambda m: m.group(1) + name, svg)


def _lean(svg: str) -> str:
    """``svg`` without empty groups, nor the groups emptied by removing them."""
    while (leaner := _EMPTY_GROUP.sub("", svg)) != svg:
        svg = leaner
    return svg


def _img(svg: str, name: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="chart" id="{name}" alt="" src="data:image/svg+xml;base64,{data}">'
