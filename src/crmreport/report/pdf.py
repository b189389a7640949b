"""The report as PDF: the same page rendered for print, charts as inline SVG from kaleido.

The charts are drawn by the one chart browser of the run (report/browser.py); the page is
laid out by WeasyPrint, in the typesetter process when there is one (report/typeset.py).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import re
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from crmreport.config.models import Report
from crmreport.files import write_bytes
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.report.browser import draw, drawn
from crmreport.report.html import page_context, render

CHART_WIDTH = 900
# plotly.js gives every figure a random uid, used in its clip-path ids.
_UID = re.compile(r'id="defs-([0-9a-z]+)"')
# plotly's groups for the layers a chart does not use: empty, they draw nothing, and
# WeasyPrint's drawing takes its time per node (a quarter of the nodes of the demo's charts)
_EMPTY_GROUP = re.compile(r"<g(?: [^>]*)?/>|<g(?: [^>]*)?></g>")


def pdf_page(
    monitoring: Monitoring, definition: Report, base_dir: Path | None,
    template_dir: Path | None, summary: PeriodSummary | None, sources: Mapping[str, str],
    context: Mapping[str, Any] | None = None,
) -> str:
    """The HTML the PDF is laid out from, each chart's image from ``sources`` (its
    :func:`svg_source` inline, or the typesetter's ``chart:NAME``)."""
    if context is None:
        context = page_context(monitoring, definition, {}, base_dir, summary)
    charts = {name: f'<img class="chart" id="{name}" alt="" src="{source}">'
              for name, source in sources.items()}
    return render({**context, "charts": charts}, "pdf", template_dir)


def svg_source(svg: bytes) -> str:
    """``svg`` as the data URL of an image."""
    return f"data:image/svg+xml;base64,{base64.b64encode(svg).decode('ascii')}"


def write_pdf_bytes(out_dir: Path, pdf: bytes) -> Path:
    path = out_dir / "report.pdf"
    write_bytes(path, pdf)
    return path


def draw_chart(name: str, figure: go.Figure, into: Future[bytes]) -> None:
    """``figure`` set drawing as SVG in the chart browser (the caller goes on), ``into``
    given the drawing; inside a :func:`~crmreport.report.browser.browser` block."""
    drawing = draw(_named_traces(figure.to_dict(), name), "svg",
                   figure.layout.width or CHART_WIDTH, figure.layout.height or 380)
    drawing.add_done_callback(functools.partial(_settle, into))


def _named_traces(figure: dict[str, Any], name: str) -> dict[str, Any]:
    """``figure`` with each trace's uid from the chart's name: plotly.js would make a random
    one, which it writes into ids (a colour bar's)."""
    for number, trace in enumerate(figure.get("data", [])):
        trace.setdefault("uid", f"{name}-{number}")
    return figure


def _settle(target: Future[bytes], done: Future[bytes]) -> None:
    if done.cancelled():
        target.cancel()
        return
    error = done.exception()
    with contextlib.suppress(InvalidStateError):  # cancelled meanwhile: nobody waits for it
        if error is None:
            target.set_result(done.result())
        else:
            target.set_exception(error)


def chart_svg(drawing: Future[bytes], name: str) -> bytes:
    """The drawn chart (waited for) as SVG, with plotly's random uid replaced by the chart's
    name and without empty groups."""
    return _lean(_stable(drawn(drawing).decode("utf-8"), name)).encode("utf-8")


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

