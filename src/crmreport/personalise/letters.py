"""DIN 5008 letters: every recipient's letter in one HTML document, rendered to one PDF.

One WeasyPrint document for the whole run costs far less than one per letter (fonts and the
stylesheet are prepared once). Print houses fold and insert one sheet per letter, so every
letter must fit on exactly one page, and its address must fit the envelope window: a letter
that runs over, or an address the window would clip, is an error naming the customer and
template, not a misdirected or two-page letter.

Each template's stylesheet (its ``style`` block, which holds the ``@page`` rules and the
``footer``) is rendered once and applies to every letter in the PDF, so it sees only
``layout``, ``return_address``, ``letter_date`` and ``part``: a style or footer that uses a
recipient field is a TemplateError, never the first recipient's data printed on every page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from weasyprint import HTML
from weasyprint.formatting_structure import boxes

from crmreport.errors import DataError, RenderError, TemplateError
from crmreport.files import write_bytes
from crmreport.personalise.templating import TemplateCache, display_name, render
from crmreport.progress import counted

LAYOUTS = ("din5008a", "din5008b")
ADDRESS_FIELDS = ("street", "postal_code", "city")
_ANCHOR = "crm-letter-{}"
# The class base.html.j2 gives the address block inside the window; its height is the space
# the window leaves for the address, so content below or beside it would be clipped.
ADDRESS_CLASS = "crm-address"
_SLACK = 0.01  # CSS px; rounding in the layout, far below a line
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
    pages_per_letter: int = 0  # 1 whenever there are letters: each must fit on one page
    hashes: dict[str, str] = field(default_factory=dict)  # customer_id -> sha256 of its HTML


def render_letters(recipients: Sequence[Mapping[str, Any]], env: Environment,
                  settings: LetterSettings, out_path: Path,
                  on_progress: Callable[[int], None] | None = None) -> LetterBatch:
    """Render all letters into ``out_path`` (one PDF, written atomically); same input, same bytes.
    ``on_progress`` is called with 1 as each letter's page is composed.

    Recipients must have a complete postal address; filter them before calling. Raises
    RenderError, naming the customer and template, when a letter takes more than one page or
    its address does not fit the window, and TemplateError when a template's style block
    (``@page`` rules, ``footer``) uses a recipient field: see the module docstring.
    """
    _check_addresses(recipients)
    batch = LetterBatch(count=len(recipients))
    if not recipients:
        return batch
    html, templates = _compose(recipients, env, settings, batch, on_progress)
    document = HTML(string=html).render()
    batch.pages = len(document.pages)
    batch.pages_per_letter = _check_pages(document.pages, recipients, templates)
    _check_address_windows(document.pages, recipients, templates)
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
             settings: LetterSettings, batch: LetterBatch,
             on_progress: Callable[[int], None] | None = None) -> tuple[str, list[Template]]:
    """The merged HTML document, and the template each letter used (for error messages)."""
    cache = TemplateCache(env, "letter")
    extras = {"layout": settings.layout, "return_address": settings.return_address,
              "letter_date": settings.date}
    styles: dict[str, None] = {}  # each template's stylesheet once, in first-use order
    sections: list[str] = []
    templates: list[Template] = []
    used: set[Template] = set()
    for index, recipient in enumerate(counted(recipients, on_progress)):
        template = cache.get(recipient, "html")
        if template not in used:
            used.add(template)
            styles[_render_style(template, extras)] = None
        letter = render(template, {**recipient, **extras, "part": "letter"})
        batch.hashes[str(recipient["customer_id"])] = hashlib.sha256(letter.encode()).hexdigest()
        sections.append(f'<section class="crm-letter" id="{_ANCHOR.format(index)}">'
                        f"{letter}</section>")
        templates.append(template)
    return _FRAME.format(styles="\n".join(styles), sections="\n".join(sections)), templates


def _render_style(template: Template, extras: Mapping[str, Any]) -> str:
    """A template's stylesheet, shared by every letter, so rendered without recipient data."""
    try:
        return render(template, {**extras, "part": "style"})
    except TemplateError as exc:
        if "is undefined" not in str(exc):
            raise
        where = display_name(template.environment, template.name or "")
        raise TemplateError(
            f"{where}: the style block (the @page rules and the footer) uses a field that is "
            f"not available there ({exc}); it is rendered once and shared by every letter in "
            "the PDF, so it may use only layout, return_address and letter_date: move "
            "recipient fields into the letter body") from None


def _check_pages(pages: Sequence[Any], recipients: Sequence[Mapping[str, Any]],
                 templates: Sequence[Template]) -> int:
    """Pages per letter (always 1), after checking every letter fits on exactly one page."""
    starts = [-1] * len(recipients)
    for number, page in enumerate(pages):
        for anchor in page.anchors:
            # A section split over pages is anchored on each of them: keep the first.
            index = int(anchor.rsplit("-", 1)[1]) if anchor.startswith("crm-letter-") else -1
            if index >= 0 and starts[index] < 0:
                starts[index] = number
    ends = [*starts[1:], len(pages)]
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if start != index or end != index + 1:
            length = end - start if start >= 0 else 0
            raise RenderError(
                f"the letter for customer {_cid(recipients[index])} ({_where(templates[index])}) "
                f"takes {length} pages; every letter must fit on one page: shorten the text "
                "or the fields it prints")
    return 1


def _check_address_windows(pages: Sequence[Any], recipients: Sequence[Mapping[str, Any]],
                           templates: Sequence[Template]) -> None:
    """Refuse any address the envelope window would clip, measured on the laid-out pages.

    The address block (class ``crm-address``) has the fixed height the window leaves for the
    address and the window hides what overflows, so a line that ends below the block or
    reaches beyond its right edge would vanish from the envelope.
    """
    for page in pages:
        letter = -1
        for box in _walk(page._page_box):
            element = getattr(box, "element", None)
            if element is None or not isinstance(box, boxes.BlockBox):
                continue
            anchor = element.get("id") or ""
            if box.element_tag == "section" and anchor.startswith("crm-letter-"):
                letter = int(anchor.rsplit("-", 1)[1])
            elif ADDRESS_CLASS in (element.get("class") or "").split() and letter >= 0:
                _check_address(box, recipients[letter], templates[letter])


def _check_address(box: Any, recipient: Mapping[str, Any], template: Template) -> None:
    lines = [b for b in _walk(box) if isinstance(b, boxes.LineBox)]
    if not lines:
        return
    bottom = box.content_box_y() + box.height + _SLACK
    right = box.content_box_x() + box.width + _SLACK
    clipped = any(line.position_y + line.margin_height() > bottom
                  or line.position_x + line.width > right for line in lines)
    if clipped:
        fits = int((box.height + _SLACK) // lines[0].margin_height())
        raise RenderError(
            f"the address for customer {_cid(recipient)} ({_where(template)}) does not fit "
            f"the envelope window: it needs {len(lines)} lines where the window holds at most "
            f"{fits}, so part of it would be cut off; shorten the company or name (or drop "
            f"a line) so the address takes at most {fits} lines")


def _walk(box: Any) -> Iterator[Any]:
    """The box and all boxes inside it, including absolutely positioned ones."""
    yield box
    for child in getattr(box, "children", ()):
        yield from _walk(child)


def _cid(recipient: Mapping[str, Any]) -> str:
    return str(recipient.get("customer_id", "?"))


def _where(template: Template) -> str:
    return display_name(template.environment, template.name or "")
