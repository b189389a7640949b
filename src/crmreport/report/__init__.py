"""Report: the monitoring results as one self-contained HTML file and a PDF.

Reports carry aggregates only; cells about fewer than ``min_cell_size`` customers are
suppressed once, here, before either format sees them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from crmreport.config.models import Report
from crmreport.errors import RenderError

if TYPE_CHECKING:  # the data libraries load with write_report; the typesetter needs none
    import plotly.graph_objects as go

    from crmreport.monitor import Monitoring
    from crmreport.monitor.periods import PeriodSummary
    from crmreport.report.names import Labels
    from crmreport.report.typeset import Typesetter

FORMATS = ("html", "pdf")

__all__ = ["FORMATS", "write_report"]


def write_report(
    monitoring: Monitoring,
    definition: Report,
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    *,
    base_dir: Path | None = None,
    template_dir: Path | None = None,
    summary: PeriodSummary | None = None,
    labels: Labels | None = None,
    email: Path | None = None,
    typesetter: Typesetter | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> list[Path]:
    """Write report.html and/or report.pdf into ``out_dir``; return the paths written.

    ``base_dir`` resolves a relative branding logo (default: the working directory);
    ``template_dir`` overrides the bundled report templates (crmreport/report/templates);
    ``summary`` gives the executive summary its period figures; ``labels`` the names of
    segments and offers per language (``{id: {language: name}}``; default: the id made
    readable); ``email`` is where the executive summary goes as a self-contained .eml;
    ``typesetter`` (a :class:`~crmreport.report.typeset.Typesetter`) lays out the PDF in
    another process while this one writes the HTML and the email (default: here, after);
    ``meanwhile`` is called once the PDF's page is sent, beside its layout.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise RenderError(f"unknown report format {', '.join(unknown)}; use html or pdf")
    from crmreport.report.format import suppress_small
    from crmreport.report.names import with_names

    safe = with_names(suppress_small(monitoring, definition.min_cell_size), labels or {},
                      definition.language)
    from crmreport.report.charts import chart_makers
    from crmreport.report.format import Formatter
    from crmreport.report.html import page_context, write_html

    # charts and page context once, for the HTML, the PDF and the email
    makers = chart_makers(safe, definition.branding, Formatter.for_report(definition))
    context = page_context(safe, definition, {}, base_dir, summary)
    page = (base_dir, template_dir, summary)
    if "pdf" not in formats and email is None:
        figures = {name: make() for name, make in makers.items()}
        if meanwhile:
            meanwhile()
        return [write_html(safe, definition, out_dir, *page, figures, context)] \
            if "html" in formats else []
    if email is not None and summary is None:
        raise RenderError("the summary email needs the period summary")
    from crmreport.report.browser import browser, drawing_done
    from crmreport.report.email import spark_pngs, summary_email, write_email
    from crmreport.report.pdf import chart_sizes, chart_svg, pdf_page, svg_source, write_pdf_bytes
    from crmreport.report.typeset import CHART

    html_path = email_path = pdf_path = None
    # the browser stays open until the PDF's charts are drawn (the run's own, when it has one)
    with browser(done_early=True) if "pdf" in formats else contextlib.nullcontext():
        # the PDF's charts, each drawn in the browser as soon as its figure is made
        drawing: dict[str, Future[bytes]] = {name: Future() for name in makers} \
            if "pdf" in formats else {}
        laid_out: Callable[[], bytes] | None = None  # the PDF, waited for
        if typesetter and drawing:
            # the typesetter lays the page out with each chart's size while the charts are
            # made and drawn, and draws it once they came; this process writes the HTML and
            # the email meanwhile. The page is made first, alone: made beside the figures it
            # would share the GIL.
            pdf_html = pdf_page(safe, definition, *page,
                                {name: CHART + name for name in drawing}, context)
            laid_out = typesetter.submit(lambda: pdf_html, {
                name: functools.partial(chart_svg, svg, name)
                for name, svg in drawing.items()}, chart_sizes(safe, drawing)).result
        elif drawing:
            laid_out = functools.partial(_typeset_here, lambda: pdf_page(
                safe, definition, *page,
                {name: svg_source(chart_svg(svg, name)) for name, svg in drawing.items()},
                context))
        try:
            figures = _made(makers, drawing)
            if "html" in formats:
                html_path = write_html(safe, definition, out_dir, *page, figures, context)
            if email is not None and summary is not None:
                message = summary_email(safe, summary, definition,
                                        spark_pngs(summary, definition, safe),
                                        context["executive"])
                email_path = write_email(email, message)
            if meanwhile:
                meanwhile()
            futures.wait(drawing.values())
        except BaseException:
            for waiting in drawing.values():
                waiting.cancel()  # the typesetter's sender waits for them no longer
            if typesetter:
                typesetter.abort()
            raise
        if drawing:
            drawing_done()  # the browser closes while the PDF is laid out
        if laid_out is not None:
            pdf_path = write_pdf_bytes(out_dir, laid_out())
    return [p for p in (html_path, pdf_path, email_path) if p is not None]


def _made(makers: Mapping[str, Callable[[], go.Figure]],
          drawing: Mapping[str, Future[bytes]]) -> dict[str, go.Figure]:
    """The figures ``makers`` make, each one ``drawing`` has a future for set drawing into it
    as soon as it is made."""
    from crmreport.report.pdf import draw_chart

    figures = {}
    for name, make in makers.items():
        figures[name] = make()
        if name in drawing:
            draw_chart(name, figures[name], drawing[name])
    return figures


def _typeset_here(page: Callable[[], str]) -> bytes:
    from crmreport.report.typeset import typeset

    return typeset(page())
