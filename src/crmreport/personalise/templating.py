"""The sandboxed Jinja2 environment personalised content is rendered in.

Templates are user files, so they run in jinja2's immutable sandbox with StrictUndefined: a
field a customer lacks is an error naming the template, line and customer id (never a silent
"Dear ,"), and templates write their fallbacks explicitly. Errors never carry personal data.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import operator
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from babel import Locale
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplatesNotFound,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
    select_autoescape,
)
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from crmreport import localisation
from crmreport.errors import CrmError, TemplateError

# Bound on every string or list a template builds, and on what it renders (characters), so
# a typo or a hostile template cannot exhaust memory.
MAX_SIZE = 1_000_000
# Seconds one template may take for one recipient; a real one takes milliseconds.
RENDER_SECONDS = 2.0
_FORMAT_WIDTH = re.compile(r"\d{7,}|%[^a-zA-Z%]*\*")  # a width of a million or more, or %*d
_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("deadline", default=0.0)
_LIMIT: contextvars.ContextVar[float] = contextvars.ContextVar("limit", default=RENDER_SECONDS)
# Formats when neither the recipient nor the campaign names a usable locale.
_FALLBACK = Locale.parse("de_DE")
_CSS_UNSAFE = re.compile(r'["\\<>&\x00-\x1f\x7f]')
_SHARED = re.compile(r"^(.+)\.(?:html|txt)\.j2$")
_UNDEFINED = re.compile(r"^'(?P<name>\w+)' is undefined$|has no attribute '(?P<attr>\w+)'")


class RecipientError(TemplateError):
    """A template that loaded fails for one recipient: their data, or a limit, is the cause."""


# A template that fails this many recipients before any succeeds is broken, not the data:
# the build stops with its first error rather than set everyone aside (or wait for each).
BROKEN_AFTER = 10


@dataclass
class TemplateFailures:
    """Per template: whether it came through for anyone, and the errors of those it failed."""

    ok: set[str] = field(default_factory=set)
    failed: dict[str, list[CrmError]] = field(default_factory=dict)

    def add(self, template: str, exc: CrmError) -> None:
        errors = self.failed.setdefault(template, [])
        errors.append(exc)
        if len(errors) >= BROKEN_AFTER and template not in self.ok:
            raise errors[0]

    def check(self) -> None:
        """A template that came through for no one is broken: its first error stops the build."""
        for template, errors in self.failed.items():
            if template not in self.ok:
                raise errors[0]


class LimitError(SecurityError):
    """A template went over the size or time limit; the message holds no customer value."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 24


def _bound(size: int) -> None:
    """Refuse a result of ``size`` before it is built; check the time limit on the way."""
    if size > MAX_SIZE:
        raise LimitError(f"the template builds a value of over {MAX_SIZE:,} characters")
    deadline = _DEADLINE.get()
    if deadline and time.monotonic() > deadline:
        raise LimitError(f"the template ran for over {_LIMIT.get():g} seconds")


def _format_size(fmt: str, marker: str, args: Iterable[Any]) -> int:
    """An upper bound on a %- or {}-format's result: no huge widths, each field its largest."""
    if _FORMAT_WIDTH.search(fmt):
        raise LimitError("the template formats with a width of a million or more")
    largest = max((_size(a) for a in args), default=0)
    return len(fmt) + fmt.count(marker) * max(largest, 24)


def _joined_size(sep: str, items: list[Any]) -> int:
    return sum(_size(str(i)) for i in items) + len(sep) * len(items)


def _replaced_size(text: str, old: str, new: str, *_: Any) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    return len(text) + hits * len(new)


# str methods whose result can outgrow their inputs: an upper bound on its length.
_STR_BOUNDS: dict[str, Callable[..., int]] = {
    "center": lambda s, width=0, *_: max(len(s), width),
    "ljust": lambda s, width=0, *_: max(len(s), width),
    "rjust": lambda s, width=0, *_: max(len(s), width),
    "zfill": lambda s, width=0: max(len(s), width),
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * tabsize,
    "replace": _replaced_size,
    "format": lambda s, *a, **k: _format_size(s, "{", [*a, *k.values()]),
    "format_map": lambda s, m: _format_size(s, "{", list(m.values())),
}


def _bounded_method(text: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        if name == "join":
            items = list(args[0])
            _bound(_joined_size(text, items))
            return method(items)
        _bound(_STR_BOUNDS[name](text, *args, **kwargs))
        return method(*args, **kwargs)
    return call


class Probe:
    """A stand-in value (shapes.py) that every filter hands to ``filtered`` instead."""

    def filtered(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses oversize results (and checks the time limit) before building."""
    @functools.wraps(func)  # keeps jinja's pass_context marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        plain = [a for a in args if not isinstance(a, Context | EvalContext)]
        if plain and isinstance(plain[0], Probe):
            return plain[0].filtered(name, tuple(plain[1:]), kwargs)
        if name == "format" and plain:
            _bound(_format_size(str(plain[0]), "%", [*plain[1:], *kwargs.values()]))
        elif name == "join" and plain:
            items = list(plain[0])
            _bound(_joined_size(str(plain[1]) if len(plain) > 1 else "", items))
            args = tuple(items if a is plain[0] else a for a in args)
        elif name in ("center", "indent", "replace") and plain:
            _bound(_filter_size(name, str(plain[0]), plain[1:], kwargs))
        else:
            _bound(0)
        result = func(*args, **kwargs)
        _bound(_size(result))
        return result
    return checked


def _filter_size(name: str, text: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    if name == "replace":
        return _replaced_size(text, str(args[0]) if args else "", str(args[1]) if len(args) > 1
                              else "")
    width = args[0] if args else kwargs.get("width", 80 if name == "center" else 4)
    width = len(width) if isinstance(width, str) else int(width)
    return max(len(text), width) if name == "center" else len(text) * (1 + max(width, 0))


class _CodeGenerator(CodeGenerator):
    """Routes ``~`` through the sandbox, so a concatenation is bounded like any operator."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on what operators, methods and filters build."""

    intercepted_binops = frozenset(["*", "**", "%", "+"])
    code_generator_class = _CodeGenerator

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise LimitError("exponent too large in template")
            return operator.pow(left, right)
        if operator_ == "%" and isinstance(left, str):
            items = right if isinstance(right, tuple) else [right]
            _bound(_format_size(left, "%", items))
            return operator.mod(left, right)
        if operator_ == "+":
            _bound(_size(left) + _size(right))
            return operator.add(left, right)
        if operator_ == "%":
            return operator.mod(left, right)
        for seq, n in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
            if sized:
                _bound(len(seq) * n)
        return operator.mul(left, right)

    def bounded_concat(self, value: str) -> str:
        _bound(len(value))  # parts are bounded, so this is at most a few times the limit
        return value

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._bounded(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._bounded(obj, argument, super().getitem(obj, argument))

    @staticmethod
    def _bounded(obj: Any, name: Any, value: Any) -> Any:
        if isinstance(obj, str) and (name in _STR_BOUNDS or name == "join") and callable(value):
            return _bounded_method(obj, str(name), value)
        return value

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        _bound(0)
        result = super().call(__context, __obj, *args, **kwargs)
        _bound(_size(result))
        return result


def make_environment(template_dir: Path, locale: str = "de_DE") -> Environment:
    """A sandboxed, strict environment over ``template_dir``; *.txt.j2 unescaped, rest escaped.

    ``locale`` is the campaign's: the filters format in it for recipients without their own.

    Whether a macro escapes is fixed when its file is compiled, so shared macros are loaded
    twice: ``macros.html.j2`` and ``macros.txt.j2`` both read ``macros.j2`` (see _Loader).
    """
    env = _Sandbox(
        loader=_Loader(str(template_dir)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"),
                                     disabled_extensions=("txt.j2", "txt"),
                                     default_for_string=True, default=True),
        auto_reload=False,
        keep_trailing_newline=True,
        cache_size=-1,
    )
    env.filters.update(money=money, date=format_date, number=format_number, country=country,
                       css_string=css_string)
    env.filters.update({name: _bounded_filter(name, f) for name, f in env.filters.items()})
    env.globals["campaign_locale"] = locale
    return env


class _Loader(FileSystemLoader):
    """Serves ``x.j2`` as ``x.html.j2`` / ``x.txt.j2`` when those files do not exist.

    The two names compile the same source with and without escaping, so one macro file gives
    safe HTML and clean text: ``{% import "macros.html.j2" as m %}`` in an HTML template.
    """

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except TemplateNotFound:
            shared = _SHARED.match(template)
            if not shared:
                raise
            return super().get_source(environment, shared.group(1) + ".j2")


# --- filters --------------------------------------------------------------------------------


def _lang(locale: Any) -> str:
    return str(locale or "de")[:2].lower()


def _context_value(context: Context | Mapping[str, Any], key: str) -> str | None:
    value = context.get(key)
    return None if value is None or isinstance(value, Undefined) else str(value)


def _locale(context: Context | Mapping[str, Any], locale: str | None) -> Locale:
    """The filter's locale argument, else the recipient's ``locale``, else the campaign's."""
    return _resolved(_context_value(context, "campaign_locale"),
                     _context_value(context, "locale"), locale if isinstance(locale, str) else None)


@functools.lru_cache(maxsize=256)
def _resolved(campaign_locale: str | None, data_locale: str | None,
              locale: str | None) -> Locale:
    """Parsed once per combination: Babel's parsing would cost every email a few filters."""
    campaign = localisation.resolve(campaign_locale, _FALLBACK)
    return localisation.resolve(locale, localisation.resolve(data_locale, campaign))


@functools.lru_cache(maxsize=256)
def _formatted_date(value: dt.date, locale: Locale, style: localisation.DateStyle) -> str:
    """A date most emails share (as_of, a coupon's last day) is formatted once."""
    return localisation.date(value, locale, style)


@pass_context
def money(context: Context, value: Any, currency: str | None = None,
          locale: str | None = None) -> str:
    """1234.5 -> "1.234,50 €" (de_DE) or "€1,234.50" (en_GB); currency defaults to the data's."""
    return money_writer(context, currency, locale)(value)


def money_writer(context: Context | Mapping[str, Any], currency: str | None = None,
                 locale: str | None = None) -> Callable[[Any], str]:
    """``money`` with the context's currency and locale looked up once, for many values."""
    code = currency or _context_value(context, "currency") or "EUR"
    where = _locale(context, locale)

    def write(value: Any) -> str:
        kind = _EXACT_TEXT.get(type(value))
        if kind is not None:
            return _formatted_money(kind, str(value), code, where)
        return localisation.money(value, code, where)
    return write


# Number types whose str() reads back as exactly the same value.
_EXACT_TEXT: dict[type, str] = {int: "int", float: "float", Decimal: "Decimal"}
_FROM_TEXT: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "Decimal": Decimal}


@functools.lru_cache(maxsize=256)
def _formatted_money(kind: str, text: str, code: str, locale: Locale) -> str:
    """An amount an email shows in its text and its HTML part is formatted once. Keyed by
    type and text, not value: 0.0 and -0.0, or 1.5 and Decimal("1.50"), are equal values."""
    return localisation.money(_FROM_TEXT[kind](text), code, locale)


@pass_context
def format_number(context: Context, value: Any, places: int = 0,
                  locale: str | None = None) -> str:
    """A grouped number in the data's locale: 12.345 (de) or 12,345 (en)."""
    return localisation.number(value, places, _locale(context, locale))


@pass_context
def format_date(context: Context, value: Any, locale: str | None = None,
                style: localisation.DateStyle = "short") -> str:
    """01.03.2026 / 1 Mar 2026; style="long" gives 1. März 2026 / 1 March 2026."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        raise ValueError("date filter needs a date")
    return _formatted_date(value, _locale(context, locale), style)


@pass_context
def country(context: Context, code: Any, locale: str | None = None) -> str:
    """An ISO country code as the recipient's language names it: CH -> Schweiz."""
    return localisation.country(str(code), _locale(context, locale))


def css_string(value: Any) -> Markup:
    """A quoted CSS string, safe inside <style> (for @page margin-box content)."""
    text = _CSS_UNSAFE.sub(lambda m: f"\\{ord(m.group()):x} ", str(value))
    return Markup(f'"{text}"')


# --- choosing and caching templates ---------------------------------------------------------


def display_name(env: Environment, name: str) -> str:
    """``email/de/vip.html.j2`` -> ``templates/email/de/vip.html.j2`` for messages."""
    loader = env.loader
    if isinstance(loader, FileSystemLoader) and loader.searchpath:
        return f"{Path(loader.searchpath[0]).name}/{name}"
    return name


def _display_file(env: Environment, filename: str | None) -> str:
    loader = env.loader
    if filename and isinstance(loader, FileSystemLoader) and loader.searchpath:
        root = Path(loader.searchpath[0])
        try:
            return f"{root.name}/{Path(filename).relative_to(root).as_posix()}"
        except ValueError:
            pass
    return filename or "<template>"


def template_candidates(kind: str, name: str, ext: str, locale: str | None,
                        campaign_locale: str | None = None) -> list[str]:
    """Where a template is looked for: the recipient's language folder, then the campaign's
    (for a customer without a locale, or in a language no template is written in), then the
    kind folder."""
    names = [f"{kind}/{_lang(code)}/{name}.{ext}.j2" for code in (locale, campaign_locale)
             if code]
    return [*dict.fromkeys(names), f"{kind}/{name}.{ext}.j2"]


def load_template(env: Environment, names: list[str]) -> Template:
    """The first of ``names`` that exists; missing or broken templates become TemplateError."""
    try:
        return env.select_template(names)
    except TemplateSyntaxError as exc:
        where = display_name(env, exc.name) if exc.name else _display_file(env, exc.filename)
        raise TemplateError(f"{where} line {exc.lineno}: syntax error: {exc.message}") from None
    except (TemplatesNotFound, TemplateNotFound) as exc:
        tried = ", ".join(display_name(env, n) for n in names)
        missing = "" if exc.name in names else f" (it includes {exc.name!s}, which is missing)"
        raise TemplateError(f"template not found: looked for {tried}{missing}") from None


class TemplateCache:
    """Compiles each (kind, name, ext, language) template once per batch."""

    def __init__(self, env: Environment, kind: str):
        self.env = env
        self.kind = kind
        self._cache: dict[tuple[str, str, str], Template] = {}
        self._globals: dict[int, dict[str, Any]] = {}  # id(template) -> its globals, flat

    def context(self, template: Template, values: Mapping[str, Any]) -> dict[str, Any]:
        """``template``'s globals overlaid with ``values``: one dict for any number of renders
        with shared=True (jinja would copy its chained globals into every one)."""
        flat = self._globals.get(id(template))
        if flat is None:
            flat = self._globals[id(template)] = dict(template.globals)
        return {**flat, **values}

    def get(self, recipient: Mapping[str, Any], ext: str) -> Template:
        name = recipient.get("template")
        if not name:
            cid = recipient.get("customer_id", "?")
            raise TemplateError(f"customer {cid} has no {self.kind} template name "
                                "(the 'template' field is missing)")
        locale = recipient.get("locale")
        key = (str(name), ext, _lang(locale) if locale else "")
        template = self._cache.get(key)
        if template is None:
            campaign = self.env.globals.get("campaign_locale")
            names = template_candidates(self.kind, str(name), ext, locale,
                                        str(campaign) if campaign else None)
            template = self._cache[key] = load_template(self.env, names)
        return template


# --- rendering with useful errors ------------------------------------------------------------


def render(template: Template, context: Mapping[str, Any], block: str | None = None,
           timed: bool = True, shared: bool = False) -> str:
    """Render a template (or one of its own blocks) within the size and time limits;
    failures become TemplateError. ``timed=False`` when the caller holds a time_limit()
    around several renders (one alarm per email instead of one per part)."""
    return "".join(render_parts(template, context, block, timed, shared))


def render_parts(template: Template, context: Mapping[str, Any], block: str | None = None,
                 timed: bool = True, shared: bool = False) -> list[str]:
    """render(), as the chunks the template produced: its own text as ``str``, each escaped
    output as ``Markup`` (so a caller can tell the template's markup from merged values).
    ``shared``: ``context`` already holds the template's globals (TemplateCache.context)
    and is rendered from as it is, not copied (it is not changed)."""
    try:
        with time_limit() if timed else contextlib.nullcontext():
            values = context if isinstance(context, dict) else dict(context)
            ctx = template.new_context(values, shared=shared)  # copied unless shared
            if block is None:
                return _collect(template.root_render_func(ctx))
            return _collect(template.blocks[block](ctx))
    except KeyError as exc:
        if block is not None and block not in template.blocks:
            where = display_name(template.environment, template.name or "")
            raise TemplateError(f"{where}: has no {{% block {block} %}}") from None
        _raise_render_error(template, context, exc)
    except Exception as exc:
        _raise_render_error(template, context, exc)


# Chunks rendered between two checks of the time limit: a loop that only outputs text is
# still stopped, without a clock read per chunk.
_CHECK_EVERY = 64


def _collect(chunks: Iterator[str]) -> list[str]:
    """The rendered chunks, refused once they pass MAX_SIZE (checked as they are produced)."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_SIZE:
            raise LimitError(f"the template renders over {MAX_SIZE:,} characters")
        parts.append(chunk)
        if not len(parts) % _CHECK_EVERY:
            _bound(0)
    return parts


class _Timeout(LimitError):
    pass


@contextlib.contextmanager
def time_limit(parts: int = 1) -> Iterator[None]:
    """RENDER_SECONDS per part from now: the sandbox's hooks check it, and in the main thread
    an alarm also interrupts loops that call nothing (``{% for i in range(99999) %}...``).
    An email's three parts share one limit of three times RENDER_SECONDS."""
    seconds = RENDER_SECONDS * parts
    alarm = _alarm_usable()
    # With the alarm the hooks' check is a fallback, a little later so the alarm comes first.
    token = _DEADLINE.set(time.monotonic() + seconds + (1.0 if alarm else 0.0))
    limit = _LIMIT.set(seconds)
    try:
        with contextlib.nullcontext() if _ALARM_HANDLED or not alarm else alarm_handler():
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                yield
            finally:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        _DEADLINE.reset(token)
        _LIMIT.reset(limit)


def _alarm_usable() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")


_ALARM_HANDLED = False  # alarm_handler() is in force: time_limit() only sets the timer


@contextlib.contextmanager
def alarm_handler() -> Iterator[None]:
    """The time limit's alarm handler, installed once around many renders (installing it for
    each one costs an email more than some of its parts); nothing outside the main thread."""
    global _ALARM_HANDLED
    if _ALARM_HANDLED or not _alarm_usable():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _ALARM_HANDLED = True
    try:
        yield
    finally:
        _ALARM_HANDLED = False
        signal.signal(signal.SIGALRM, previous)


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Timeout(f"the template ran for over {_LIMIT.get():g} seconds")


def _template_frames(tb: TracebackType | None) -> Iterator[tuple[str | None, int]]:
    """(file, line) of each template frame: raw compiled frames, or ones jinja rewrote."""
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        owner = frame_globals.get("__jinja_template__")
        if owner is not None:
            yield owner.filename, owner.get_corresponding_lineno(tb.tb_lineno)
        elif "__jinja_exception__" in frame_globals:
            yield tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next


def _raise_render_error(template: Template, context: Mapping[str, Any],
                        exc: Exception) -> NoReturn:
    env = template.environment
    frames = list(_template_frames(exc.__traceback__))
    top = display_name(env, template.name or "")
    if frames:
        filename, line = frames[-1]
        where = f"{_display_file(env, filename)} line {line}"
        if _display_file(env, filename) != top:
            where += f" (rendering {top})"
    else:
        where = top
    cid = context.get("customer_id", "?")
    text = _describe(exc, context)
    raise RecipientError(f"{where}: {text} for customer {cid}{_hint(exc, text)}") from None


# Quoted text in an error message; and characters that make a Python error's own message
# unsafe to show (it may quote a value: "Invalid isoformat string: 'Hauptstr'").
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_RISKY = re.compile(r"['\":\d<>]")


def _describe(exc: Exception, context: Mapping[str, Any]) -> str:
    """The error text with no customer value in it, whole or in part (privacy).

    Python's own messages are shown only when they quote nothing; jinja's have every quoted
    part that occurs in any of the customer's values blanked, and the values themselves."""
    if isinstance(exc, SecurityError):
        text = f"blocked by the template sandbox ({exc})"
    elif isinstance(exc, JinjaTemplateError):
        text = str(exc)
    else:
        message = str(exc)
        safe = message and not _RISKY.search(message) and len(message) <= 120
        text = f"{type(exc).__name__}: {message}" if safe else type(exc).__name__
    values = [str(v) for v in context.values() if isinstance(v, str) and v]

    def blank(match: re.Match[str]) -> str:
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        return "'<value>'" if quoted and any(quoted in v for v in values) else match.group()

    text = _QUOTED.sub(blank, text)
    for value in values:
        if len(value) > 1 and value in text:
            text = text.replace(value, "<value>")
    return text


def _hint(exc: Exception, text: str) -> str:
    match = _UNDEFINED.search(text) if not isinstance(exc, SecurityError) else None
    if not match:
        return ""
    field = match.group("name") or match.group("attr")
    return (f"; add it to the data or write a fallback such as "
            f"{{{{ {field} | default('...') }}}}")

