"""One RFC 5322 multipart/alternative .eml per recipient, assembled by hand for speed.

The stdlib email package manages about 380 messages/s, which would bound a large run; the
structure here is fixed (a text and an HTML part), so the bytes are written directly. A part
goes as it is (UTF-8, ``8bit``) when every line fits RFC 5322's 998 octets and it holds no
CR or NUL, else quoted-printable: the same text either way, 8bit without the encoding's work.
Everything that depends on a customer is either encoded (RFC 2047) or stripped of control
characters before it reaches a header, so no merge value can start a header of its own.
Headers are folded so no line exceeds 78 characters (display names are capped at 64).

The templates are not run for every recipient: recipients whose values steer the templates
alike share a *shape* (shapes.py), rendered once in the sandbox with a stand-in for each
value the templates only show, its CSS inlined once (styles.py) and the quoted-printable of
its own lines made once (for parts that need it); each email puts its values into the holes.
The first recipient of every shape is also rendered in full and must come out the same, or
that shape is not used; templates the analysis cannot follow are rendered per recipient, as
are the recipients past MAX_SHAPES shapes. Either way the bytes are those of rendering each
email whole.

The unsubscribe token is HMAC-SHA256(key=secret, msg=customer_id), first 32 hex digits: only
whoever holds the secret can make one, so nobody can unsubscribe someone else. Message-ID and
boundary are plain sha256 hashes of the message's own content (not keyed with the secret):
as deterministic as the bytes, and no hash can be turned back into the token it covers.

Every email must show the objection notice (legal.objection_notice) in both parts; a template
that does not stops the build. esp.csv has a declared column order (ESP_COLUMNS; the scores
only on request) and is written row by row. Past PARALLEL_FROM recipients, spawned worker
processes render batches while this process reads recipients, names files and records the
outcomes in recipient order; it builds batches itself while the workers have enough to do,
so it counts as one of them. The bytes, names and esp.csv do not depend on which process
builds a batch or finishes first, and no more than a few batches are held at once.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import csv
import datetime as dt
import functools
import hashlib
import hmac
import io
import itertools
import multiprocessing
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import format_datetime, parseaddr
from html import unescape
from pathlib import Path
from typing import IO, Any

import css_inline
from jinja2 import Environment, FileSystemLoader, Template

from crmreport import reasons
from crmreport.errors import ConfigError, DataError, Problem, RenderError, TemplateError
from crmreport.files import ESCAPED_START, atomic_file, safe_cell, safe_filename
from crmreport.personalise.legal import objection_notice
from crmreport.personalise.shapes import Filled, Hole, Shape, Spec, StandIn, analyse, learn
from crmreport.personalise.styles import LayoutCache
from crmreport.personalise.templating import (
    LimitError,
    RecipientError,
    TemplateCache,
    TemplateFailures,
    alarm_handler,
    display_name,
    make_environment,
    render,
    render_parts,
    time_limit,
)
from crmreport.progress import counted

# Control characters and Unicode line breaks: none may reach a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_BLANK_RUNS = re.compile(r"\n{3,}")
# 39 bytes -> 52 base64 characters: each encoded-word line stays within 78 characters.
_WORD_BYTES = 39
_MAX_NAME = 64  # display name characters; longer names are cut at a word boundary
_MAX_ADDRESS = 254  # RFC 5321's limit on a forward path
_LINE = 78  # RFC 5322's recommended line length; 998 is the hard limit
_MAX_OCTETS = 998  # RFC 5322's limit on a line, CRLF not counted
_BOUNDARY_START = "=_crm_"  # then 24 hex digits of a hash of the content hash ("boundary:")
_TOKEN_CHARS = 32
MIN_SECRET = 16
_SECRET_FIX = ("set CRMREPORT_SECRET to a long random string; it keeps unsubscribe links "
               "from being forged")
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class EmailSettings:
    sender: str
    reply_to: str | None
    unsubscribe_url: str  # https URL containing {token}
    unsubscribe_mailto: str
    max_bytes: int
    date: dt.datetime
    # Key of the unsubscribe tokens (HMAC-SHA256 of the customer id); at least 16 characters,
    # kept private and the same from run to run so earlier links keep working.
    secret: str = field(repr=False)
    # Write the internal scores (SCORE_COLUMNS) to esp.csv too; off unless the campaign asks.
    export_scores: bool = False

    def __post_init__(self) -> None:
        problems = []
        if len(self.secret.strip()) < MIN_SECRET:
            what = "is empty" if not self.secret.strip() else \
                f"is shorter than {MIN_SECRET} characters"
            problems.append(Problem(file="environment", line=None, key="CRMREPORT_SECRET",
                                    message=f"the unsubscribe secret {what}", fix=_SECRET_FIX))
        if not self.unsubscribe_url.startswith("https://") or "{token}" not in self.unsubscribe_url:
            problems.append(_problem("unsubscribe_url", "must be an https URL containing {token}",
                                     "e.g. https://shop.example/unsubscribe?t={token}"))
        if "@" not in parseaddr(self.sender)[1]:
            problems.append(_problem("from", "is not an email address",
                                     'write it as "Shop <news@shop.example>"'))
        if "@" not in self.unsubscribe_mailto:
            problems.append(_problem("unsubscribe_mailto", "is not an email address",
                                     "e.g. unsubscribe@shop.example"))
        if problems:
            raise ConfigError(problems)


def _problem(key: str, message: str, fix: str) -> Problem:
    return Problem(file="campaign", line=None, key=f"channels.email.{key}", message=message,
                   fix=fix)


@dataclass
class EmailBatch:
    count: int = 0
    oversize: list[str] = field(default_factory=list)  # customer_ids over max_bytes
    hashes: dict[str, str] = field(default_factory=dict)  # customer_id -> sha256 of the .eml
    # customer_id -> reason code of a recipient set aside unrendered (not contacted)
    quarantined: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # customer_id -> why (no values)


INVALID_ADDRESS = reasons.code("invalid_address", reasons.QUARANTINE)
TEMPLATE_FAILED = reasons.code("template_failed", reasons.QUARANTINE)
# esp.csv: the merge fields an email service needs, in this order whatever the data holds.
ESP_COLUMNS = ("customer_id", "email", "salutation", "first_name", "last_name", "company",
               "locale", "campaign", "segment", "offer", "variant", "template", "coupon",
               "coupon_valid_until", "suggested_category", "subject", "message_id",
               "unsubscribe_url")
# Internal scores, written after ESP_COLUMNS only when the campaign sets export_scores.
SCORE_COLUMNS = ("r_score", "f_score", "m_score", "rfm_segment", "p_alive",
                 "expected_orders_52w", "expected_spend", "clv_52w", "churn_risk")


def esp_columns(export_scores: bool) -> tuple[str, ...]:
    return ESP_COLUMNS + SCORE_COLUMNS if export_scores else ESP_COLUMNS


# Recipients rendered in this process before worker processes start: a small run needs no
# workers, and a template that fails everyone stops the build here, before any start.
PARALLEL_FROM = 2_000
BATCH = 500  # recipients a worker renders per task; at most 2 tasks per worker in flight
# Shapes (shapes.py) a builder keeps; recipients of further keys are rendered in full, so
# memory stays flat however many kinds of recipient there are.
MAX_SHAPES = 1_000
_UNSEEN = object()
# Merge fields with one value per run or per language: part of a shape, not filled into it.
_FIXED = ("imprint", "objection_notice", "sender_name", "shop_url")
# esp.csv columns an email's own values fill, not the recipient's.
_OWN_COLUMNS = ("email", "subject", "unsubscribe_url", "message_id")


def render_emails(recipients: Iterable[Mapping[str, Any]], env: Environment,
                  settings: EmailSettings, out_dir: Path, esp_path: Path | None = None,
                  workers: int | None = None,
                  on_progress: Callable[[int], None] | None = None,
                  expected: int | None = None) -> EmailBatch:
    """Write ``<out_dir>/<customer_id>.eml`` for every recipient; same inputs, same bytes.

    With ``esp_path``, also the ESP import file: one row per email, esp_columns() in order.
    Past PARALLEL_FROM recipients, ``workers`` processes (default: one per core; this one
    and ``workers - 1`` worker processes) render batches; names, esp.csv rows and errors are
    taken in recipient order whichever process finishes first, and recipients are read as
    they are needed (memory stays flat).
    ``on_progress`` is called with 1 as each recipient is taken up. ``expected``: about how
    many recipients there are, if known (else their length hint): past PARALLEL_FROM the
    workers start at once, while this process builds the first emails."""
    columns = esp_columns(settings.export_scores)
    with contextlib.ExitStack() as stack:
        stack.enter_context(alarm_handler())
        esp = None
        if esp_path is not None:
            esp = stack.enter_context(atomic_file(esp_path, "w", encoding="utf-8", newline=""))
            _csv_writer(esp).writerow(columns)
        run = _Run(_Builder(env, settings), out_dir, esp)
        folder = stack.enter_context(_Folder(out_dir))
        stream = iter(counted(recipients, on_progress))
        template_dir = _template_dir(env)
        count = workers if workers is not None else os.cpu_count() or 1
        if count < 2 or template_dir is None:
            _build_here(run, folder, stream)
            run.failures.check()
            return run.batch
        pool = None
        if (expected or operator.length_hint(recipients)) > PARALLEL_FROM:
            # Workers will be needed: they start (imports, templates) while this process
            # builds the first emails.
            pool = stack.enter_context(_worker_pool(run, count - 1, template_dir, settings))
        _build_here(run, folder, itertools.islice(stream, PARALLEL_FROM))
        following = list(itertools.islice(stream, 1))
        if following:
            pool = pool or stack.enter_context(
                _worker_pool(run, count - 1, template_dir, settings))
            _render_in_workers(run, pool, folder, itertools.chain(following, stream), count - 1)
        run.failures.check()
        return run.batch


def _build_here(run: _Run, folder: _Folder, recipients: Iterable[Mapping[str, Any]]) -> None:
    for recipient in recipients:
        job = run.claim(recipient)
        if job:
            outcome, row = _build_one(run.builder, folder, *job)
            run.record(outcome)
            if row is not None:
                run.write_row(row)


def _template_dir(env: Environment) -> Path | None:
    """The folder a worker process builds the same environment from (None: stay in process)."""
    loader = env.loader
    if isinstance(loader, FileSystemLoader) and len(loader.searchpath) == 1:
        return Path(loader.searchpath[0])
    return None


# One recipient to render, with the file name and address the parent gave them; and what
# became of it: customer id, template, the file's sha256 and size, or the error. Plain tuples:
# they go to and from the worker processes (a dataclass pickles several times slower).
_Job = tuple[Mapping[str, Any], str, str]
_Outcome = tuple[str, str, str, int, RecipientError | None]


def _build_one(builder: _Builder, folder: _Folder, recipient: Mapping[str, Any], name: str,
               addr: str) -> tuple[_Outcome, list[str] | None]:
    """Build and write one email: its outcome, and its esp.csv row (None if it failed)."""
    cid = str(recipient["customer_id"])
    template = str(recipient.get("template", ""))
    try:
        data, row = builder.build(recipient, addr)
    except RecipientError as exc:  # this recipient's data, or a limit: set them aside
        return (cid, template, "", 0, exc), None
    folder.write_new(name, data)
    return (cid, template, hashlib.sha256(data).hexdigest(), len(data), None), row


def _csv_writer(handle: IO[str]) -> Any:
    """esp.csv's dialect, for the file and for the text of a worker's batch alike."""
    return csv.writer(handle, lineterminator="\n")


def _row_writer(handle: IO[str]) -> Callable[[list[str]], object]:
    """Writes an esp.csv row of text cells as the csv writer does: a row with nothing to
    quote (no comma, quote, CR or LF in a cell; not one empty cell) is its cells joined by
    commas, made in C without the writer's look at every character; others go to the
    writer, into the same handle, in turn."""
    write, writerow = handle.write, _csv_writer(handle).writerow

    def write_row(row: list[str]) -> object:
        line = ",".join(row)
        if line.count(",") == len(row) - 1 and line and '"' not in line \
                and "\n" not in line and "\r" not in line:
            return write(line + "\n")
        return writerow(row)
    return write_row


class _Run:
    """The parent's side: file names, the batch's record and esp.csv, in recipient order."""

    def __init__(self, builder: _Builder, out_dir: Path, esp: IO[str] | None):
        self.builder, self.out_dir, self.esp = builder, out_dir, esp
        self.write_row: Callable[[list[str]], object] = \
            _row_writer(esp) if esp else lambda row: None
        self.batch = EmailBatch()
        self.names = _FileNames()
        self.failures = TemplateFailures()

    def claim(self, recipient: Mapping[str, Any]) -> _Job | None:
        cid = str(recipient.get("customer_id", ""))
        name = self.names.claim(cid)
        addr = sendable_address(str(recipient.get("email", "")))
        if addr is None:  # one bad address must not stop everyone else's email
            self.batch.quarantined[cid] = INVALID_ADDRESS
            return None
        return recipient, name, addr

    def record(self, outcome: _Outcome) -> None:
        """The batch's record of one email (its esp.csv row is the caller's to write)."""
        cid, template, sha256, size, error = outcome
        batch = self.batch
        if error is not None:
            self.failures.add(template, error)
            batch.quarantined[cid], batch.errors[cid] = TEMPLATE_FAILED, str(error)
            return
        self.failures.ok.add(template)
        batch.count += 1
        batch.hashes[cid] = sha256
        if size > self.builder.settings.max_bytes:
            batch.oversize.append(cid)


@contextlib.contextmanager
def _worker_pool(run: _Run, workers: int, template_dir: Path,
                 settings: EmailSettings) -> Iterator[ProcessPoolExecutor]:
    """Worker processes, started now (each spawned on a submit: one no-op each).

    Workers are spawned (not forked from a process holding a database and its threads) and
    build their own environment from the template folder and the campaign locale."""
    locale = str(run.builder.templates.env.globals.get("campaign_locale", "de_DE"))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(template_dir, locale, settings, run.out_dir)) as pool:
        for _ in range(workers):
            pool.submit(_ready)
        try:
            yield pool
        except BrokenProcessPool:
            raise RenderError("a worker process writing emails ended unexpectedly (killed, or "
                              "out of memory); nothing of this run is kept: build again") from None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _ready() -> None:
    """A worker's first task: none, but submitting it starts the worker."""


def _render_in_workers(run: _Run, pool: ProcessPoolExecutor, folder: _Folder,
                       stream: Iterator[Mapping[str, Any]], workers: int) -> None:
    """The rest of the recipients in batches, taken back in order: to the ``workers``
    processes while they have fewer than two batches each to do, else built here (this
    process has its share of a core to give besides reading and recording for them)."""
    pending: collections.deque[Future[tuple[list[_Outcome], str]]] = collections.deque()
    esp = run.esp is not None
    while chunk := list(itertools.islice(stream, BATCH)):
        jobs = [job for job in map(run.claim, chunk) if job]
        if _workers_have_enough(pending, workers):
            pending.append(_built_here(run.builder, folder, jobs, esp))
        else:
            pending.append(pool.submit(_work, jobs, esp))
        while pending and (pending[0].done() or len(pending) > 4 * workers):
            _record_all(run, pending.popleft())
    while pending:
        _record_all(run, pending.popleft())


def _workers_have_enough(pending: Iterable[Future[Any]], workers: int) -> bool:
    """Whether the worker processes have two batches each still to build (or more)."""
    return sum(not future.done() for future in pending) >= 2 * workers


def _built_here(builder: _Builder, folder: _Folder, jobs: list[_Job],
                esp: bool) -> Future[tuple[list[_Outcome], str]]:
    """A batch built in this process, as a finished future: recorded in its turn, its error
    (a template that fails everyone) raised in its turn as a worker's would be."""
    future: Future[tuple[list[_Outcome], str]] = Future()
    try:
        future.set_result(_build_batch(builder, folder, jobs, esp))
    except Exception as exc:  # raised by _record_all, in recipient order
        future.set_exception(exc)
    return future


def _record_all(run: _Run, future: Future[tuple[list[_Outcome], str]]) -> None:
    outcomes, rows = future.result()
    for outcome in outcomes:
        run.record(outcome)
    if run.esp:
        run.esp.write(rows)  # the batch's esp.csv rows, in order, as the worker wrote them


_WORKER: tuple[_Builder, _Folder] | None = None


def _start_worker(template_dir: Path, locale: str, settings: EmailSettings,
                  out_dir: Path) -> None:
    global _WORKER
    _WORKER = _Builder(make_environment(template_dir, locale), settings), _Folder(out_dir)


def _work(jobs: list[_Job], esp: bool) -> tuple[list[_Outcome], str]:
    """Jobs in; their outcomes out, and (``esp``) their esp.csv rows as one text: a string
    pickles and is written at a fraction of the cost of the rows' lists."""
    assert _WORKER is not None, "worker not started"
    with alarm_handler():
        return _build_batch(*_WORKER, jobs, esp)


def _build_batch(builder: _Builder, folder: _Folder, jobs: list[_Job],
                 esp: bool) -> tuple[list[_Outcome], str]:
    """A batch built and written by this process: its outcomes, and (``esp``) its esp.csv
    rows as one text."""
    rows = io.StringIO()
    write_row = _row_writer(rows) if esp else None
    outcomes = []
    for job in jobs:
        outcome, row = _build_one(builder, folder, *job)
        outcomes.append(outcome)
        if row is not None and write_row:
            write_row(row)
    return outcomes, rows.getvalue()


class _Folder:
    """The folder emails are written to, opened once: each file is created by its name in
    it, not by a path walked from the root."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> _Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def write_new(self, name: str, data: bytes) -> None:
        """Create ``name`` (never overwrite: names are claimed once) and write ``data``."""
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666,
                     dir_fd=self.fd)
        try:
            written = os.write(fd, data)
            if written < len(data):  # a short write: the rest, however many calls it takes
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)


class _FileNames:
    """The file name of each customer's email, claimed in recipient order; never one another
    email has. Ids that sanitise alike (``a/b``, ``a_b``) get a hash of the id appended."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.ids: set[str] = set()

    def claim(self, cid: str) -> str:
        if not cid:
            raise DataError("a recipient has no customer_id; every email needs one")
        if cid in self.ids:
            raise DataError(f"customer {cid} appears twice; customer ids must be unique")
        name = f"{safe_filename(cid)}.eml"
        if name in self.names:
            digest = hashlib.sha256(cid.encode()).hexdigest()
            name = f"{safe_filename(cid)}-{digest[:10]}.eml"
            if name in self.names:  # an id that already looks like a hashed name: the whole hash
                name = f"{safe_filename(cid)}-{digest}.eml"
        self.names.add(name)
        self.ids.add(cid)
        return name


def sendable_address(text: str) -> str | None:
    """The address as an ASCII header can carry it (the domain IDNA-encoded), else None.

    A non-ASCII local part needs SMTPUTF8, which a plain .eml cannot promise to carry."""
    if len(text) <= _MAX_ADDRESS and _ADDRESS.fullmatch(text):  # not match: "$" passes "\n"
        return text  # nothing to clean or encode: the common case, one match
    addr = _clean(text)
    local, at, domain = addr.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return None
    addr = f"{local}{at}{domain}"
    if len(addr) > _MAX_ADDRESS or not _ADDRESS.match(addr):
        return None
    return addr


class _Builder:
    """Per-batch state: compiled templates and the headers shared by every message."""

    def __init__(self, env: Environment, settings: EmailSettings):
        self.settings = settings
        self.columns = esp_columns(settings.export_scores)
        self.templates = TemplateCache(env, "email")
        self.layouts = LayoutCache()
        self.specs: dict[tuple[Template, Template], Spec | None] = {}
        # The shape of each key seen (None: this key is always rendered in full).
        self.shapes: dict[tuple[Any, ...], Shape | None] = {}
        sender_name, sender_addr = parseaddr(settings.sender)
        self.domain = sender_addr.rpartition("@")[2]
        self.extras = {"sender_name": sender_name or self.domain}
        self.shop_url = f"https://{self.domain}/"
        self.mailto = settings.unsubscribe_mailto.removeprefix("mailto:")
        common = [_header("From", _address(sender_name, sender_addr)),
                  _header("Date", format_datetime(settings.date))]
        if settings.reply_to:
            reply_name, reply_addr = parseaddr(settings.reply_to)
            common.append(_header("Reply-To", _address(reply_name, reply_addr)))
        self.common = "".join(common)
        # What the content hash reads after the customer id: the same for every email.
        self.hashed = f"{settings.date.isoformat()}\x00{self.common}\x00"
        self._notice = functools.lru_cache(maxsize=64)(lambda locale: objection_notice(None,
                                                                                      locale))
        # The unsubscribe token's HMAC with its key set up once: copied for each customer.
        self.token_hmac = hmac.new(settings.secret.encode(), digestmod="sha256")
        # The unsubscribe URL and its header around the token: token.join(parts) gives them.
        self.url_parts = settings.unsubscribe_url.split("{token}")
        self.unsubscribe_parts = _unsubscribe_parts(settings.unsubscribe_url, self.mailto)
        self.row = _row_function(self.columns)
        self.pairs: dict[tuple[Any, Any], tuple[Template, Template]] = {}
        self.noticed: dict[tuple[int, str], bool] = {}  # (id of a shape, notice) -> shown

    def build(self, recipient: Mapping[str, Any], addr: str) -> tuple[bytes, list[str]]:
        cid = str(recipient["customer_id"])
        keyed = self.token_hmac.copy()
        keyed.update(cid.encode())
        token = keyed.hexdigest()[:_TOKEN_CHARS]
        unsubscribe = token.join(self.url_parts)
        values = {"shop_url": self.shop_url, **recipient, **self.extras,
                  "unsubscribe_url": unsubscribe}
        if "objection_notice" not in values:
            values["objection_notice"] = self._notice(self._locale(recipient))
        text_t, html_t = self._templates(recipient)
        filled = self._content(values, text_t, html_t, cid)
        subject, text_data, html_data = filled.subject, filled.text, filled.html
        notice = str(values["objection_notice"])
        if not self._shows_notice(filled.shape, notice):
            _require_notice(notice, cid, (text_t, text_data.decode()),
                            (html_t, html_data.decode()))
        # sha256 of what the message says (not keyed with the secret): same content, same ids.
        content = hashlib.sha256(b"".join((f"{cid}\x00{self.hashed}{subject}\x00".encode(),
                                           text_data, b"\x00", html_data, b"\x00"))
                                 ).hexdigest().encode()
        message_id = f"<{_label(b'message-id:', content)[:32]}@{self.domain}>"
        boundary = _BOUNDARY_START + _label(b"boundary:", content)[:24]
        text_cte, text_body = _body(text_data, filled.text_body, filled.text_longest, boundary,
                                    filled.text_free)
        html_cte, html_body = _body(html_data, filled.html_body, filled.html_longest, boundary,
                                    filled.html_free)
        headers = (f"{self.common}To: {_address(_display_name(recipient), addr)}\r\n"
                   f"Subject: {_header_text(subject)}\r\nMessage-ID: {message_id}\r\n"
                   f"{self._list_unsubscribe(unsubscribe, token)}{_FIXED_HEADERS}")
        data = _assemble(headers, boundary, text_cte, text_body, html_cte, html_body)
        return data, self.row(recipient.get, addr, subject, unsubscribe, message_id)

    def _shows_notice(self, shape: Shape | None, notice: str) -> bool:
        """Whether the shape's own text shows the notice in both parts: then so does every
        email whose parts are its pieces and values (``shape``: Filled.shape)."""
        if shape is None or shape.layout is None:
            return False
        key = (id(shape), notice)  # shapes are kept for the run: their ids are not reused
        shown = self.noticed.get(key)
        if shown is None:
            shown = any(notice in piece for piece in shape.tidy.pieces) and \
                any(notice in piece for piece in shape.layout.pieces)
            if len(self.noticed) < MAX_SHAPES:
                self.noticed[key] = shown
        return shown

    def _templates(self, recipient: Mapping[str, Any]) -> tuple[Template, Template]:
        """The recipient's text and HTML templates (by template name and locale)."""
        key = (recipient.get("template"), recipient.get("locale"))
        pair = self.pairs.get(key)
        if pair is None:
            pair = (self.templates.get(recipient, "txt"), self.templates.get(recipient, "html"))
            if len(self.pairs) < MAX_SHAPES:
                self.pairs[key] = pair
        return pair

    def _content(self, values: dict[str, Any], text_t: Template, html_t: Template,
                 cid: str) -> Filled:
        """Subject, text and HTML: filled into the shape of the recipient's values when it is
        known; else rendered in full, and the shape learnt (checked against that render)."""
        spec = self._spec(text_t, html_t)
        try:
            key = (text_t, html_t, spec.key(values)) if spec else None
        except Exception:  # a comparison the data cannot make: the render reports it
            key = None
        shape = self.shapes.get(key, _UNSEEN) if key else None
        if isinstance(shape, Shape):
            try:
                return shape.fill(values, _tidy_text, lambda whole: _inline(html_t, whole, cid))
            except Exception:  # a value a formatting filter refuses: the render reports it
                return self._render(values, text_t, html_t, cid)
        rendered = self._render(values, text_t, html_t, cid)
        if spec and key and shape is _UNSEEN and len(self.shapes) < MAX_SHAPES:
            self.shapes[key] = self._learn(spec, values, text_t, html_t, cid, rendered)
        return rendered

    def _spec(self, text_t: Template, html_t: Template) -> Spec | None:
        pair = (text_t, html_t)
        if pair not in self.specs:
            try:
                self.specs[pair] = analyse(text_t.environment, [text_t.name or "",
                                                                html_t.name or ""], _FIXED)
            except Exception:  # anything the analysis cannot read is rendered in full
                self.specs[pair] = None
        return self.specs[pair]

    def _learn(self, spec: Spec, values: dict[str, Any], text_t: Template, html_t: Template,
               cid: str, rendered: Filled) -> Shape | None:
        """The shape of this recipient's key, if filling it gives exactly ``rendered``."""
        holes: list[Hole] = []
        shown = {name: StandIn(values[name], Hole(name), holes)
                 for name in spec.stand_ins if name in values}
        inline = lambda whole: _inline(html_t, whole, cid)  # noqa: E731
        try:
            parts = self._render_parts({**values, **shown}, text_t, html_t, cid)
            shape = learn(holes, (parts[0], parts[1], "".join(parts[2])),
                          self.templates.context(text_t, values), _tidy_text, inline, _qp,
                          _BOUNDARY_START)
            filled = shape.fill(values, _tidy_text, inline)
        except Exception:  # a stand-in used in a way the analysis missed: no shape
            return None
        same = (filled.subject, filled.text, filled.html) == (
            rendered.subject, rendered.text, rendered.html) and \
            (filled.text_body is None or filled.text_body() == _qp(filled.text.decode())) and \
            (filled.html_body is None or filled.html_body() == _qp(filled.html.decode()))
        return shape if same else None

    def _render(self, values: dict[str, Any], text_t: Template, html_t: Template,
                cid: str) -> Filled:
        subject, text, html_parts = self._render_parts(values, text_t, html_t, cid)
        html = self.layouts.inline(html_parts, lambda whole: _inline(html_t, whole, cid))
        return Filled(" ".join(subject.split()), _tidy_text(text).encode(), html.encode())

    def _render_parts(self, values: dict[str, Any], text_t: Template, html_t: Template,
                      cid: str) -> tuple[str, str, list[str]]:
        """Subject, text and the HTML's chunks, rendered in the sandbox within one limit."""
        context = self.templates.context(text_t, values)  # with globals, for both text parts
        try:
            with time_limit(parts=3):  # one alarm for the three parts
                subject = render(text_t, context, "subject", timed=False, shared=True)
                text = render(text_t, context, "body", timed=False, shared=True)
                html_parts = render_parts(html_t, self.templates.context(html_t, values),
                                          timed=False, shared=True)
        except LimitError as exc:  # the alarm rang between two parts
            where = display_name(html_t.environment, html_t.name or "")
            raise RecipientError(f"{where}: {exc} for customer {cid}") from None
        return subject, text, html_parts

    def _locale(self, recipient: Mapping[str, Any]) -> str:
        return str(recipient.get("locale") or self.templates.env.globals.get("campaign_locale")
                   or "de_DE")

    def _list_unsubscribe(self, unsubscribe: str, token: str) -> str:
        """The List-Unsubscribe header: the token joined into its parts (made once) where the
        URL allows, else the whole header made for this recipient."""
        return token.join(self.unsubscribe_parts) if self.unsubscribe_parts \
            else _unsubscribe_header(unsubscribe, self.mailto)


def unsubscribe_token(secret: str, customer_id: str) -> str:
    """HMAC-SHA256(key=secret, msg=customer_id) as hex, first 32 digits (128 bits)."""
    return hmac.digest(secret.encode(), customer_id.encode(), "sha256").hex()[:_TOKEN_CHARS]


def _label(purpose: bytes, content: bytes) -> str:
    """A hash of the content hash for one purpose (``purpose``: its name and a colon)."""
    return hashlib.sha256(purpose + content).hexdigest()


def _inline(template: Template, html: str, cid: str) -> str:
    try:
        return str(_INLINER.inline(html))
    except Exception as exc:  # css_inline raises its own InlineError/ValueError
        where = display_name(template.environment, template.name or "")
        raise TemplateError(f"{where}: CSS could not be inlined for customer {cid}: "
                            f"{type(exc).__name__}") from None


def _require_notice(notice: str, cid: str, *parts: tuple[Template, str]) -> None:
    """Every marketing email shows the objection notice, in its text and its HTML part.

    A template without it stops the build (exit 1) rather than having it added: only the
    template's author can place it where it reads right, and what is checked and previewed
    stays what is sent."""
    wanted = " ".join(notice.split())
    for template, body in parts:
        if notice in body or wanted in " ".join(unescape(body).split()):
            continue
        where = display_name(template.environment, template.name or "")
        raise TemplateError(
            f"{where}: the objection notice is missing (first for customer {cid}); every "
            "marketing email must show it: add {{ objection_notice }} to the template's footer")


def _tidy_text(text: str) -> str:
    """Trailing spaces and the blank lines left by template tags removed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def _row_function(columns: tuple[str, ...]) -> Callable[..., list[str]]:
    """The esp.csv row's cells in ``columns``' order, as _cell makes them: a function written
    for the columns, taking the recipient's ``get`` and the email's own values (_OWN_COLUMNS),
    each cell read and checked in line (no list to fill by index, no call per text cell).
    The column names (this module's constants) reach the code as literals."""
    cells = []
    for column in columns:
        value = column if column in _OWN_COLUMNS else f"get({column!r}, '')"
        cells.append(f"(v if type(v := {value}) is str and not v.startswith(ESCAPED_START) "
                     "else cell(v))")
    code = (f"def row(get, {', '.join(_OWN_COLUMNS)}):\n"
            f"    return [{', '.join(cells)}]")
    names: dict[str, Any] = {"ESCAPED_START": ESCAPED_START, "cell": _cell}
    exec(code, names)  # the code above: the columns as literals, names bound here
    row: Callable[..., list[str]] = names["row"]
    return row


def _cell(value: Any) -> str:
    """An esp.csv cell (safe_cell of _as_cell), text taking the short way."""
    if type(value) is str:
        return "'" + value if value.startswith(ESCAPED_START) else value
    if type(value) is dt.date:  # an ISO date starts with its year's digits: no formula
        return value.isoformat()
    return safe_cell(_as_cell(value))


def _as_cell(value: Any) -> object:
    """Dates as ISO dates, numbers as numbers (formula-safe as they are), the rest as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, int | float | Decimal) else str(value)


# --- headers ---------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _display_name(recipient: Mapping[str, Any]) -> str:
    parts = [str(recipient[k]) for k in ("first_name", "last_name") if recipient.get(k)]
    return " ".join(parts) or str(recipient.get("company", ""))


def _header(name: str, value: str) -> str:
    return f"{name}: {value}\r\n"


_FIXED_HEADERS = (_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
                  + "MIME-Version: 1.0\r\n")
# The MIME structure around the boundary and the parts' transfer encodings.
_PREAMBLE = "This is a multi-part message in MIME format.\r\n\r\n"
_PLAIN = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
_HTML = "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: "


def _address(name: str, addr: str) -> str:
    """``name <addr>``, the name capped and quoted or encoded, folded before ``<addr>``."""
    phrase, width = _phrase(name)
    if not phrase:
        return addr
    joint = " " if width + len(addr) + 3 <= _LINE else "\r\n "
    return f"{phrase}{joint}<{addr}>"


@functools.lru_cache(maxsize=4096)  # names repeat: first and last names, companies
def _phrase(name: str) -> tuple[str, int]:
    """The display name as a header phrase, and the width its last line leaves taken."""
    name = _cap(_clean(name))
    if not name:
        return "", 0
    if not name.isascii() or "=?" in name or '"' in name or "\\" in name:
        phrase = _encoded_words(name)  # folds itself; no quoting or escaping needed
    elif _SPECIALS.search(name):
        phrase = f'"{name}"'
    else:
        phrase = name
    last = phrase.rsplit("\r\n", 1)[-1]
    # "To: " or "Reply-To: " precedes the first line: leave room for the longest.
    prefix = 0 if "\r\n" in phrase else len("Reply-To: ")
    return phrase, prefix + len(last)


def _cap(name: str) -> str:
    """At most _MAX_NAME characters, cut at the last space that leaves some of the name."""
    if len(name) <= _MAX_NAME:
        return name
    cut = name[:_MAX_NAME + 1].rfind(" ")
    return name[:cut] if cut >= _MAX_NAME // 2 else name[:_MAX_NAME]


def _unsubscribe_header(url: str, mailto: str) -> str:
    """The https and mailto links, one a line; the https one on a line of its own if long."""
    https = f"<{_clean(url)}>,"
    joint = " " if len("List-Unsubscribe: ") + len(https) <= _LINE else "\r\n "
    return f"List-Unsubscribe:{joint}{https}\r\n <mailto:{_clean(mailto)}?subject=unsubscribe>\r\n"


def _unsubscribe_parts(url: str, mailto: str) -> list[str] | None:
    """The List-Unsubscribe header cut where the token goes, when the URL needs no cleaning
    (a token is hex digits of a fixed length: it changes neither cleaning nor folding)."""
    mark = "\ue000" * _TOKEN_CHARS
    marked = url.replace("{token}", mark)
    if _clean(marked) != marked:
        return None
    return _unsubscribe_header(marked, mailto).split(mark)


@functools.lru_cache(maxsize=1024)  # most emails of a run share a handful of subjects
def _header_text(text: str) -> str:
    """Unstructured header text: ASCII folded at spaces, anything else RFC 2047 encoded."""
    text = _clean(text)
    # A word too long to fold after "Subject: " is encoded, and encoded words fold anywhere.
    if not text.isascii() or "=?" in text or any(len(w) > 66 for w in text.split(" ")):
        return _encoded_words(text)
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + len(word) > 66:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\r\n ".join([*lines, line])


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words, split on character boundaries, one per folded line."""
    data = text.encode()
    chunks: list[bytes] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a UTF-8 sequence
            end -= 1
        chunks.append(data[start:end])
        start = end
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(c).decode()}?=" for c in chunks or [b""])


# --- body ------------------------------------------------------------------------------------


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends (b2a_qp on LF text, then LF -> CRLF)."""
    lf = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    return binascii.b2a_qp(lf.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _as_is(data: bytes, longest: int | None = None) -> bool:
    """Whether a part's UTF-8 can be sent as it is (8bit): no CR or NUL (line ends are LF,
    sent as CRLF), and no line over _MAX_OCTETS octets (``longest``: at least the longest
    line's octets, where known: then the lines need not be measured)."""
    return b"\r" not in data and b"\x00" not in data and (
        len(data) <= _MAX_OCTETS or (longest is not None and longest <= _MAX_OCTETS)
        or max(map(len, data.split(b"\n"))) <= _MAX_OCTETS)


def _body(data: bytes, encoded: Callable[[], bytes] | None, longest: int | None,
          boundary: str, free: bool = False) -> tuple[str, bytes]:
    """A part's transfer encoding and body (``data``: its UTF-8): as it is where it can, else
    quoted-printable (``encoded``: made from the shape's encoded lines, where it has a shape).
    ``free``: the shape knows it holds no CR, NUL or boundary (Filled.text_free)."""
    # A body holding the boundary (it would have to hold a hash of itself) is encoded:
    # "=_" never occurs in quoted-printable output.
    if (free and longest is not None and longest <= _MAX_OCTETS) or (
            _as_is(data, longest) and boundary.encode() not in data):
        return "8bit", data.replace(b"\n", b"\r\n")
    return "quoted-printable", encoded() if encoded else _qp(data.decode())


def _assemble(headers: str, boundary: str, text_cte: str, text: bytes, html_cte: str,
              html: bytes) -> bytes:
    """The message from its headers and its two parts' transfer encodings and bodies."""
    return b"".join([
        f'{headers}Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"{_PREAMBLE}--{boundary}\r\n{_PLAIN}{text_cte}\r\n\r\n".encode("ascii"), text,
        f"\r\n--{boundary}\r\n{_HTML}{html_cte}\r\n\r\n".encode("ascii"), html,
        f"\r\n--{boundary}--\r\n".encode("ascii")])
