"""Report: the monitoring results as one self-contained HTML file and a PDF.

Reports carry aggregates only; cells about fewer than ``min_cell_size`` customers are
suppressed once, here, before either format sees them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from crmreport.config.models import Report
from crmreport.errors import RenderError
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.report.format import suppress_small
from crmreport.report.names import Labels, with_names

FORMATS = ("html", "pdf")
T = TypeVar("T")

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
) -> list[Path]:
    """Write report.html and/or report.pdf into ``out_dir``; return the paths written.

    ``base_dir`` resolves a relative branding logo (default: the working directory);
    ``template_dir`` overrides the bundled report templates (crmreport/report/templates);
    ``summary`` gives the executive summary its period figures; ``labels`` the names of
    segments and offers per language (``{id: {language: name}}``; default: the id made
    readable); ``email`` is where the executive summary goes as a self-contained .eml.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise RenderError(f"unknown report format {', '.join(unknown)}; use html or pdf")
    safe = with_names(suppress_small(monitoring, definition.min_cell_size), labels or {},
                      definition.language)
    from crmreport.report.charts import make_charts
    from crmreport.report.format import Formatter
    from crmreport.report.html import page_context, write_html

    # charts and page context once, for the HTML, the PDF and the email
    figures = make_charts(safe, definition.branding, Formatter.for_report(definition))
    context = page_context(safe, definition, {}, base_dir, summary)
    page = (base_dir, template_dir, summary)
    if "pdf" not in formats and email is None:
        return [write_html(safe, definition, out_dir, *page, figures, context)] \
            if "html" in formats else []
    if email is not None and summary is None:
        raise RenderError("the summary email needs the period summary")
    from crmreport.report.email import spark_pngs, summary_email, write_email
    from crmreport.report.pdf import browser, chart_svgs, write_pdf

    written: list[Path] = []
    # One chart browser for the PDF's charts and the email's trend lines. It draws in its own
    # process while this thread writes the HTML; the executor is left before the browser.
    with browser(), ThreadPoolExecutor(max_workers=1) as drawer:
        svgs = _submit(drawer, chart_svgs, figures) if "pdf" in formats else None
        pngs = _submit(drawer, spark_pngs, summary, definition, safe) \
            if email is not None and summary is not None else None
        if "html" in formats:
            written.append(write_html(safe, definition, out_dir, *page, figures, context))
        if svgs is not None:
            written.append(write_pdf(safe, definition, out_dir, *page, svgs.result(), context))
        if email is not None and summary is not None and pngs is not None:
            message = summary_email(safe, summary, definition, pngs.result(),
                                    context["executive"])
            written.append(write_email(email, message))
    return written


def _submit(pool: ThreadPoolExecutor, work: Callable[..., T], *args: Any) -> Future[T]:
    """``work`` in the pool, seeing this thread's context (its progress reporter)."""
    return pool.submit(contextvars.copy_context().run, work, *args)
