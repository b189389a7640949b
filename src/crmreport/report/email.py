"""The executive summary as one self-contained email (.eml) a scheduled job hands to any mail
server: HTML with inline styles (mail clients drop <style> blocks), a plain-text part, and
each trend line as a PNG (drawn with Pillow, no browser), attached inline and referenced by
cid:.

No From/To unless the definition names them (``email``); no Message-ID (the mail server adds
one). The Date is the as-of day, so a rerun writes the same message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from markupsafe import escape

from crmreport.config.models import Report
from crmreport.files import write_bytes
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.report.format import Formatter, as_float
from crmreport.report.html import executive
from crmreport.report.labels import LABELS
from crmreport.report.results import campaign_totals
from crmreport.report.summary import KEYS, figures

_CELL = "padding:6px 10px;border-bottom:1px solid #e3e7eb;"
SPARK_SIZE = (240, 56)  # pixels, shown at 120 x 28: sharp on high-density screens too
_INSET = 9  # pixels kept free at each edge: the last point's mark fits
_SUPERSAMPLE = 4


def spark_png(values: list[Any], colour: str) -> bytes | None:
    """A trend line as PNG, gaps where hidden and the last point marked (None with fewer than
    two numbers). Drawn four times as large and scaled down, for smooth edges."""
    from PIL import Image, ImageDraw

    numbers = [as_float(v) for v in values]
    known = [v for v in numbers if v is not None]
    if len(known) < 2:
        return None
    width, height = SPARK_SIZE
    low, span = min(known), (max(known) - min(known)) or 1.0
    step = (width - 2 * _INSET) / max(len(numbers) - 1, 1)

    def point(i: int, v: float) -> tuple[float, float]:
        y = height - _INSET - (v - low) / span * (height - 2 * _INSET)
        return (_INSET + i * step) * _SUPERSAMPLE, y * _SUPERSAMPLE

    image = Image.new("RGB", (width * _SUPERSAMPLE, height * _SUPERSAMPLE), "white")
    draw = ImageDraw.Draw(image)
    segment: list[tuple[float, float]] = []
    for i, v in enumerate([*numbers, None]):
        if v is not None:
            segment.append(point(i, v))
            continue
        if len(segment) > 1:
            draw.line(segment, fill=colour, width=3 * _SUPERSAMPLE, joint="curve")
        segment = []
    x, y = point(*next((i, v) for i, v in reversed(list(enumerate(numbers))) if v is not None))
    r = 4.5 * _SUPERSAMPLE
    draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    out = io.BytesIO()
    image.resize(SPARK_SIZE, Image.Resampling.LANCZOS).save(out, "PNG")
    return out.getvalue()


def spark_pngs(summary: PeriodSummary, definition: Report,
               monitoring: Monitoring | None = None) -> dict[str, bytes]:
    """One PNG per key figure with a trend, by figure key; ``monitoring`` (suppressed) hides
    what its campaign totals hide."""
    totals = campaign_totals(monitoring.results) if monitoring is not None else []
    pngs = {f.key: spark_png(f.values, definition.branding.primary_color)
            for f in figures(summary, definition.min_cell_size, totals)}
    return {key: png for key, png in pngs.items() if png is not None}


def summary_email(monitoring: Monitoring, summary: PeriodSummary, definition: Report,
                  pngs: dict[str, bytes], view: dict[str, Any] | None = None) -> EmailMessage:
    """``monitoring`` must already be suppressed (and named), as for the report; ``view`` is
    its :func:`executive` summary (default: made here)."""
    fmt = Formatter.for_report(definition)
    t = LABELS[definition.language]
    if view is None:
        view = executive(summary, monitoring, definition, fmt)
    keys = KEYS  # the rows of the view, in this order
    message = EmailMessage()
    message["Subject"] = f"{definition.title}: {view['period']}"
    if definition.email.sender:
        message["From"] = definition.email.sender
    if definition.email.to:
        message["To"] = ", ".join(definition.email.to)
    message["Date"] = format_datetime(dt.datetime.combine(summary.as_of, dt.time(),
                                                          tzinfo=dt.UTC))
    message["Content-Language"] = definition.language
    text = [f"{definition.title}: {view['period']} ({view['dates']})", ""]
    text += view["sentences"] + [""]
    text += [f"{r['label']}: {r['value']} ({t['change']}: {r['change'] or '–'})"
             for r in view["rows"]]
    message.set_content("\n".join(text) + "\n")
    primary = definition.branding.primary_color
    rows = "".join(
        f'<tr><td style="{_CELL}white-space:nowrap">{escape(r["label"])}</td>'
        f'<td style="{_CELL}text-align:right;font-weight:bold;color:{primary}">'
        f'{escape(r["value"])}</td>'
        f'<td style="{_CELL}text-align:right">{escape(r["previous"])}</td>'
        f'<td style="{_CELL}text-align:right">{escape(r["change"])}</td>'
        f'<td style="{_CELL}">'
        + (f'<img src="cid:spark-{key}@crmreport" width="120" height="28" '
           'style="width:120px;height:28px;display:block" alt="">'
           if key in pngs else "")
        + "</td></tr>"
        for key, r in zip(keys, view["rows"], strict=True))
    head = (f'<th style="{_CELL}text-align:left">{escape(t["figure"])}</th>'
            f'<th style="{_CELL}text-align:right">{escape(view["period"])}</th>'
            f'<th style="{_CELL}text-align:right">{escape(view["previous"])}</th>'
            f'<th style="{_CELL}text-align:right">{escape(t["change"])}</th>'
            f'<th style="{_CELL}text-align:left">{escape(view["trend_header"])}</th>')
    sentences = "".join(f'<p style="margin:4px 0">{escape(s)}</p>' for s in view["sentences"])
    html = (
        f'<!DOCTYPE html><html lang="{definition.language}"><head><meta charset="utf-8">'
        f"<title>{escape(definition.title)}</title></head>"
        f'<body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;'
        f'color:#222;font-size:14px">'
        f'<div style="color:{definition.branding.accent_color};font-weight:bold;'
        f'text-transform:uppercase">{escape(definition.branding.name)}</div>'
        f'<h1 style="color:{primary};font-size:22px;margin:4px 0">'
        f'{escape(definition.title)}: {escape(view["period"])}</h1>'
        f'<div style="color:#555;font-size:12px">{escape(view["dates"])}</div>'
        f'<div style="border-left:4px solid {definition.branding.accent_color};'
        f'padding:2px 0 2px 12px;margin:14px 0">{sentences}</div>'
        f'<table style="border-collapse:collapse;font-size:13px">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        f'<p style="color:#555;font-size:11px">{escape(t["summary_note"])}</p>'
        f'<p style="color:#555;font-size:11px">{escape(t["equity_note"])}</p>'
        "</body></html>")
    message.add_alternative(html, subtype="html")
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None  # added just above
    for key in keys:
        if key in pngs:
            html_part.add_related(pngs[key], "image", "png", cid=f"<spark-{key}@crmreport>",
                                  filename=f"{key}.png", disposition="inline")
    return message


def write_email(path: Path, message: EmailMessage) -> Path:
    write_bytes(path, bytes(with_stable_boundaries(message)))
    return path


def with_stable_boundaries(message: EmailMessage) -> EmailMessage:
    """``message`` with each multipart boundary a hash of the leaf parts instead of Python's
    random one, so that the same report writes the same bytes. A boundary cannot occur in
    the parts it is a hash of (that would take a fixed point of SHA-256)."""
    digest = hashlib.sha256()
    for part in message.walk():
        if not part.is_multipart():
            digest.update(bytes(part))
    tag = digest.hexdigest()[:40]
    multiparts = [part for part in message.walk() if part.is_multipart()]
    for depth, part in enumerate(multiparts):
        part.set_boundary(f"=_crmreport-{depth}-{tag}")
    return message
