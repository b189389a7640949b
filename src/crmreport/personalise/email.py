"""One RFC 5322 multipart/alternative .eml per recipient, assembled by hand for speed.

The stdlib email package manages about 380 messages/s, which would bound a large run; the
structure here is fixed (two quoted-printable parts), so the bytes are written directly.
Everything that depends on a customer is either encoded (RFC 2047) or stripped of control
characters before it reaches a header, so no merge value can start a header of its own.
Headers are folded so no line exceeds 78 characters (display names are capped at 64).

The unsubscribe token is HMAC-SHA256(key=secret, msg=customer_id), first 32 hex digits: only
whoever holds the secret can make one, so nobody can unsubscribe someone else. Message-ID and
boundary are plain sha256 hashes of the message's own content (not keyed with the secret):
as deterministic as the bytes, and no hash can be turned back into the token it covers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, Template

from crmreport import reasons
from crmreport.errors import ConfigError, DataError, Problem, TemplateError
from crmreport.files import safe_filename
from crmreport.personalise.templating import (
    RecipientError,
    TemplateCache,
    display_name,
    render,
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
    merge_rows: list[dict[str, str]] = field(default_factory=list)  # for an ESP import CSV
    # customer_id -> reason code of a recipient set aside unrendered (not contacted)
    quarantined: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # customer_id -> why (no values)


INVALID_ADDRESS = reasons.code("invalid_address", reasons.QUARANTINE)
TEMPLATE_FAILED = reasons.code("template_failed", reasons.QUARANTINE)
# A template that fails this many recipients before any succeeds is broken, not the data:
# the build stops with its first error rather than set everyone aside (or wait for each).
BROKEN_AFTER = 10


@dataclass
class _Failures:
    """Per template: recipients rendered, and the errors of those it failed."""

    ok: set[str] = field(default_factory=set)
    failed: dict[str, list[RecipientError]] = field(default_factory=dict)

    def add(self, template: str, exc: RecipientError) -> None:
        errors = self.failed.setdefault(template, [])
        errors.append(exc)
        if len(errors) >= BROKEN_AFTER and template not in self.ok:
            raise errors[0]

    def check(self) -> None:
        """A template that rendered for no one is broken: its first error stops the build."""
        for template, errors in self.failed.items():
            if template not in self.ok:
                raise errors[0]


def render_emails(recipients: Iterable[Mapping[str, Any]], env: Environment,
                 settings: EmailSettings, out_dir: Path,
                 on_progress: Callable[[int], None] | None = None) -> EmailBatch:
    """Write ``<out_dir>/<customer_id>.eml`` for every recipient; same inputs, same bytes.

    ``on_progress`` is called with 1 as each recipient is done (written or set aside)."""
    builder = _Builder(env, settings)
    batch = EmailBatch()
    names: dict[str, str] = {}
    failures = _Failures()
    for recipient in counted(recipients, on_progress):
        cid = str(recipient.get("customer_id", ""))
        name = _claim_filename(names, cid)
        addr = sendable_address(str(recipient.get("email", "")))
        if addr is None:  # one bad address must not stop everyone else's email
            batch.quarantined[cid] = INVALID_ADDRESS
            continue
        template = str(recipient.get("template", ""))
        try:
            data, merge = builder.build(recipient, addr)
        except RecipientError as exc:  # this recipient's data, or a limit: set them aside
            failures.add(template, exc)
            batch.quarantined[cid], batch.errors[cid] = TEMPLATE_FAILED, str(exc)
            continue
        failures.ok.add(template)
        (out_dir / name).write_bytes(data)
        batch.count += 1
        batch.hashes[cid] = hashlib.sha256(data).hexdigest()
        batch.merge_rows.append(merge)
        if len(data) > settings.max_bytes:
            batch.oversize.append(cid)
    failures.check()
    batch.merge_rows = _rectangular(batch.merge_rows)
    return batch


def _claim_filename(names: dict[str, str], cid: str) -> str:
    """The file name for a customer; never one another email has.

    Ids that sanitise alike (``a/b``, ``a_b``) get a hash of the id appended instead."""
    if not cid:
        raise DataError("a recipient has no customer_id; every email needs one")
    if cid in names.values():
        raise DataError(f"customer {cid} appears twice; customer ids must be unique")
    name = f"{safe_filename(cid)}.eml"
    if name in names:
        digest = hashlib.sha256(cid.encode()).hexdigest()
        name = f"{safe_filename(cid)}-{digest[:10]}.eml"
    if name in names:  # an id that already looks like a hashed name: use the whole hash
        name = f"{safe_filename(cid)}-{digest}.eml"
    names[name] = cid
    return name


def sendable_address(text: str) -> str | None:
    """The address as an ASCII header can carry it (the domain IDNA-encoded), else None.

    A non-ASCII local part needs SMTPUTF8, which a plain .eml cannot promise to carry."""
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


def _rectangular(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Give every row the same keys (absent fields empty) so they form one CSV."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [{k: row.get(k, "") for k in keys} for row in rows]


class _Builder:
    """Per-batch state: compiled templates and the headers shared by every message."""

    def __init__(self, env: Environment, settings: EmailSettings):
        self.settings = settings
        self.templates = TemplateCache(env, "email")
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

    def build(self, recipient: Mapping[str, Any], addr: str) -> tuple[bytes, dict[str, str]]:
        cid = str(recipient["customer_id"])
        token = unsubscribe_token(self.settings.secret, cid)
        unsubscribe = self.settings.unsubscribe_url.replace("{token}", token)
        context = {"shop_url": self.shop_url, **recipient, **self.extras,
                   "unsubscribe_url": unsubscribe}
        text_t = self.templates.get(recipient, "txt")
        html_t = self.templates.get(recipient, "html")
        subject = " ".join(render(text_t, context, "subject").split())
        text = _tidy_text(render(text_t, context, "body"))
        html = _inline(html_t, render(html_t, context), cid)
        content = self._content_hash(cid, subject, text, html)
        message_id = f"<{_label('message-id', content)[:32]}@{self.domain}>"
        headers = self._headers(recipient, addr, subject, message_id, unsubscribe)
        boundary = "=_crm_" + _label("boundary", content)[:24]
        data = _assemble(headers, boundary, text, html)
        merge = _merge_row(recipient, subject=subject, unsubscribe_url=unsubscribe,
                           message_id=message_id)
        return data, merge

    def _content_hash(self, cid: str, subject: str, text: str, html: str) -> str:
        """sha256 of what the message says (not keyed with the secret): same content, same ids."""
        digest = hashlib.sha256()
        for part in (cid, self.settings.date.isoformat(), self.common, subject, text, html):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()

    def _headers(self, recipient: Mapping[str, Any], addr: str, subject: str,
                 message_id: str, unsubscribe: str) -> str:
        return "".join([
            self.common,
            _header("To", _address(_display_name(recipient), addr)),
            _header("Subject", _header_text(subject)),
            _header("Message-ID", message_id),
            _unsubscribe_header(unsubscribe, self.mailto),
            _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            "MIME-Version: 1.0\r\n",
        ])


def unsubscribe_token(secret: str, customer_id: str) -> str:
    """HMAC-SHA256(key=secret, msg=customer_id) as hex, first 32 digits (128 bits)."""
    mac = hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:_TOKEN_CHARS]


def _label(purpose: str, content: str) -> str:
    return hashlib.sha256(f"{purpose}:{content}".encode()).hexdigest()


def _inline(template: Template, html: str, cid: str) -> str:
    try:
        return str(_INLINER.inline(html))
    except Exception as exc:  # css_inline raises its own InlineError/ValueError
        where = display_name(template.environment, template.name or "")
        raise TemplateError(f"{where}: CSS could not be inlined for customer {cid}: "
                            f"{type(exc).__name__}") from None


def _tidy_text(text: str) -> str:
    """Trailing spaces and the blank lines left by template tags removed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def _merge_row(recipient: Mapping[str, Any], **extra: str) -> dict[str, str]:
    row = {key: _as_text(value) for key, value in recipient.items()}
    row.update(extra)
    return row


def _as_text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# --- headers ---------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _display_name(recipient: Mapping[str, Any]) -> str:
    parts = [str(recipient[k]) for k in ("first_name", "last_name") if recipient.get(k)]
    return " ".join(parts) or str(recipient.get("company", ""))


def _header(name: str, value: str) -> str:
    return f"{name}: {value}\r\n"


def _address(name: str, addr: str) -> str:
    """``name <addr>``, the name capped and quoted or encoded, folded before ``<addr>``."""
    name = _cap(_clean(name))
    if not name:
        return addr
    if not name.isascii() or "=?" in name or '"' in name or "\\" in name:
        phrase = _encoded_words(name)  # folds itself; no quoting or escaping needed
    elif _SPECIALS.search(name):
        phrase = f'"{name}"'
    else:
        phrase = name
    last = phrase.rsplit("\r\n", 1)[-1]
    # "To: " or "Reply-To: " precedes the first line: leave room for the longest.
    prefix = 0 if "\r\n" in phrase else len("Reply-To: ")
    joint = " " if prefix + len(last) + len(addr) + 3 <= _LINE else "\r\n "
    return f"{phrase}{joint}<{addr}>"


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
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += encoded
    chunks.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(c).decode()}?=" for c in chunks)


# --- body ------------------------------------------------------------------------------------


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends (b2a_qp on LF text, then LF -> CRLF)."""
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(lf.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _assemble(headers: str, boundary: str, text: str, html: str) -> bytes:
    # "=_" never occurs in quoted-printable output, so the boundary cannot clash with a body.
    part = ("--{b}\r\nContent-Type: text/{kind}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    head = (f'{headers}Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            "This is a multi-part message in MIME format.\r\n\r\n")
    return b"".join([
        head.encode("ascii"),
        part.format(b=boundary, kind="plain").encode("ascii"), _qp(text), b"\r\n",
        part.format(b=boundary, kind="html").encode("ascii"), _qp(html), b"\r\n",
        f"--{boundary}--\r\n".encode("ascii"),
    ])
