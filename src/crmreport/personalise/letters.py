"""DIN 5008 letters: every recipient's letter in one HTML document, rendered to one PDF.

One WeasyPrint document for the whole run costs far less than one per letter (fonts and the
stylesheet are prepared once). Print houses fold and insert by page count, so every letter
must take the same number of pages; a letter that runs over is an error, not a surprise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from weasyprint import HTML

from crmreport.errors import DataError, RenderError
from crmreport.files import write_bytes
from crmreport.personalise.templating import TemplateCache, display_name, render

LAYOUTS = ("din5008a", "din5008b")
ADDRESS_FIELDS = ("street", "postal_code", "city")
_ANCHOR = "crm-letter-{}"
# Letters follow one another on new pages; the anchor ids let the page check find each start.
_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>letters</title>
<style>{styles}
.crm-letter + .crm-letter {{ break-before: page; }}</style></head>
<body>{sections}</body></html>"""


@dataclass(frozen=True)
class LetterSettings:
    layout: str  # 'din5008a' | 'din5008b'
    return_address: str
    date: dt.date

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"letter layout must be one of {', '.join(LAYOUTS)}, "
                             f"not {self.layout!r}")


@dataclass
class LetterBatch:
    count: int = 0
    pages: int = 0
    pages_per_letter: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # customer_id -> sha256 of its HTML


def build_letters(recipients: Sequence[Mapping[str, Any]], env: Environment,
                  settings: LetterSettings, out_path: Path) -> LetterBatch:
    """Render all letters into ``out_path`` (one PDF, written atomically); same input, same bytes.

    Recipients must have a complete postal address; filter them before calling.
    """
    _check_addresses(recipients)
    batch = LetterBatch(count=len(recipients))
    if not recipients:
        return batch
    html, templates = _compose(recipients, env, settings, batch)
    document = HTML(string=html).render()
    batch.pages = len(document.pages)
    batch.pages_per_letter = _check_pages(document.pages, recipients, templates)
    # WeasyPrint adds no creation date unless the HTML asks for one, and pydyf derives the
    # file /ID from the content, so the bytes depend on the input alone.
    write_bytes(out_path, document.write_pdf())
    return batch


def _check_addresses(recipients: Sequence[Mapping[str, Any]]) -> None:
    for recipient in recipients:
        missing = [f for f in ADDRESS_FIELDS if not str(recipient.get(f, "") or "").strip()]
        if missing:
            cid = recipient.get("customer_id", "?")
            raise DataError(f"customer {cid} has no complete postal address (missing "
                            f"{', '.join(missing)}); drop customers without one before "
                            "building letters")


def _compose(recipients: Sequence[Mapping[str, Any]], env: Environment,
             settings: LetterSettings, batch: LetterBatch) -> tuple[str, list[Template]]:
    """The merged HTML document, and the template each letter used (for error messages)."""
    cache = TemplateCache(env, "letter")
    extras = {"layout": settings.layout, "return_address": settings.return_address,
              "letter_date": settings.date}
    styles: dict[str, None] = {}  # each template's stylesheet once, in first-use order
    sections: list[str] = []
    used: list[Template] = []
    for index, recipient in enumerate(recipients):
        template = cache.get(recipient, "html")
        context = {**recipient, **extras}
        if template not in used:
            styles[render(template, {**context, "part": "style"})] = None
        letter = render(template, {**context, "part": "letter"})
        batch.hashes[str(recipient["customer_id"])] = hashlib.sha256(letter.encode()).hexdigest()
        sections.append(f'<section class="crm-letter" id="{_ANCHOR.format(index)}">'
                        f"{letter}</section>")
        used.append(template)
    return _FRAME.format(styles="\n".join(styles), sections="\n".join(sections)), used


def _check_pages(pages: Sequence[Any], recipients: Sequence[Mapping[str, Any]],
                 templates: Sequence[Template]) -> int:
    """Pages per letter, after checking every letter starts where that count says it must."""
    starts = [-1] * len(recipients)
    for number, page in enumerate(pages):
        for anchor in page.anchors:
            # A section split over pages is anchored on each of them: keep the first.
            index = int(anchor.rsplit("-", 1)[1]) if anchor.startswith("crm-letter-") else -1
            if index >= 0 and starts[index] < 0:
                starts[index] = number
    ends = [*starts[1:], len(pages)]
    lengths = [end - start for start, end in zip(starts, ends, strict=True)]
    expected = min(lengths)
    for index, length in enumerate(lengths):
        if length != expected or starts[index] != index * expected:
            cid = recipients[index].get("customer_id", "?")
            where = display_name(templates[index].environment, templates[index].name or "")
            raise RenderError(
                f"the letter for customer {cid} ({where}) takes {length} pages where the "
                f"others take {expected}; shorten the text or the fields it prints so every "
                "letter has the same page count")
    return expected
