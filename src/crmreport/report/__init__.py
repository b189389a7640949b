"""Report: the monitoring results as one self-contained HTML file and a PDF.

Reports carry aggregates only; cells about fewer than ``min_cell_size`` customers are
suppressed once, here, before either format sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crmreport.config.models import Report
from crmreport.errors import RenderError
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.report.format import suppress_small
from crmreport.report.names import Labels, with_names

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
    written: list[Path] = []
    if "html" in formats:
        from crmreport.report.html import write_html

        written.append(write_html(safe, definition, out_dir, base_dir, template_dir, summary))
    if "pdf" not in formats and email is None:
        return written
    from crmreport.report.pdf import browser, write_pdf

    with browser():  # one chart browser for the PDF's charts and the email's trend lines
        if "pdf" in formats:
            written.append(write_pdf(safe, definition, out_dir, base_dir, template_dir,
                                     summary))
        if email is not None:
            if summary is None:
                raise RenderError("the summary email needs the period summary")
            from crmreport.report.email import spark_pngs, summary_email, write_email

            pngs = spark_pngs(summary, definition, safe)
            message = summary_email(safe, summary, definition, pngs)
            written.append(write_email(email, message))
    return written
