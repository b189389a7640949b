"""The sandboxed Jinja2 environment personalised content is rendered in.

Templates are user files, so they run in jinja2's immutable sandbox with StrictUndefined: a
field a customer lacks is an error naming the template, line and customer id (never a silent
"Dear ,"), and templates write their fallbacks explicitly. Errors never carry personal data.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterator, Mapping
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
    pass_context,
    select_autoescape,
)
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from crmreport import localisation
from crmreport.errors import TemplateError

# Bound on strings/lists built by * and ** in templates, so a typo cannot exhaust memory.
_MAX_SIZE = 1_000_000
# Formats when neither the recipient nor the campaign names a usable locale.
_FALLBACK = Locale.parse("de_DE")
_CSS_UNSAFE = re.compile(r'["\\<>&\x00-\x1f\x7f]')
_SHARED = re.compile(r"^(.+)\.(?:html|txt)\.j2$")
_UNDEFINED = re.compile(r"^'(?P<name>\w+)' is undefined$|has no attribute '(?P<attr>\w+)'")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus a size bound on ``*`` and ``**``."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError("exponent too large in template")
            return operator.pow(left, right)
        for seq, n in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
            if sized and len(seq) * n > _MAX_SIZE:
                raise SecurityError("repetition too large in template")
        return operator.mul(left, right)


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


def _context_value(context: Context, key: str) -> str | None:
    value = context.get(key)
    return None if value is None or isinstance(value, Undefined) else str(value)


def _locale(context: Context, locale: str | None) -> Locale:
    """The filter's locale argument, else the recipient's ``locale``, else the campaign's."""
    campaign = localisation.resolve(_context_value(context, "campaign_locale"), _FALLBACK)
    data = localisation.resolve(_context_value(context, "locale"), campaign)
    return localisation.resolve(locale, data)


@pass_context
def money(context: Context, value: Any, currency: str | None = None,
          locale: str | None = None) -> str:
    """1234.5 -> "1.234,50 €" (de_DE) or "€1,234.50" (en_GB); currency defaults to the data's."""
    code = currency or _context_value(context, "currency") or "EUR"
    return localisation.money(value, code, _locale(context, locale))


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
    return localisation.date(value, _locale(context, locale), style)


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


def template_candidates(kind: str, name: str, ext: str, locale: str | None) -> list[str]:
    """Where a template is looked for: the language folder first, then the kind folder."""
    plain = f"{kind}/{name}.{ext}.j2"
    if not locale:
        return [plain]
    return [f"{kind}/{_lang(locale)}/{name}.{ext}.j2", plain]


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
            names = template_candidates(self.kind, str(name), ext, locale)
            template = self._cache[key] = load_template(self.env, names)
        return template


# --- rendering with useful errors ------------------------------------------------------------


def render(template: Template, context: Mapping[str, Any], block: str | None = None) -> str:
    """Render a template (or one of its own blocks); failures become TemplateError."""
    try:
        if block is None:
            return template.render(context)
        ctx = template.new_context(dict(context))
        return "".join(template.blocks[block](ctx))
    except KeyError as exc:
        if block is not None and block not in template.blocks:
            where = display_name(template.environment, template.name or "")
            raise TemplateError(f"{where}: has no {{% block {block} %}}") from None
        _raise_render_error(template, context, exc)
    except Exception as exc:
        _raise_render_error(template, context, exc)


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
    raise TemplateError(f"{where}: {text} for customer {cid}{_hint(exc, text)}") from None


def _describe(exc: Exception, context: Mapping[str, Any]) -> str:
    """The error text with any of the customer's values blanked out (privacy)."""
    if isinstance(exc, SecurityError):
        return f"blocked by the template sandbox ({exc})"
    text = str(exc) if isinstance(exc, JinjaTemplateError) else f"{type(exc).__name__}: {exc}"
    for value in context.values():
        if isinstance(value, str) and len(value) > 1 and value in text:
            text = text.replace(value, "<value>")
    return text


def _hint(exc: Exception, text: str) -> str:
    match = _UNDEFINED.search(text) if not isinstance(exc, SecurityError) else None
    if not match:
        return ""
    field = match.group("name") or match.group("attr")
    return (f"; add it to the data or write a fallback such as "
            f"{{{{ {field} | default('...') }}}}")

