"""CSS inlined once per layout of an HTML email, not once per recipient.

An email's rendered HTML is the template's own text (``str`` chunks) with escaped merge values
(``Markup`` chunks) between them. An escaped value is text only: it adds no element, class or
attribute, so where the stylesheet's rules land depends on the template's text alone. The
document is therefore inlined once with a probe in place of every such value, and each later
email with the same template text only has its values put into the inlined layout, written
as the inliner's serializer writes text (``&amp; &lt; &gt; &nbsp;``) or an attribute value
(``&amp; &quot; &nbsp;``). The probe shows which of the two each slot is in.

A value is kept verbatim in the layout's key (so it is inlined with it) whenever it could be
read differently from the probe: markup (a macro's output), an entity other than jinja's own
escapes, CR or NUL (the parser rewrites them), or leading whitespace (which the parser treats
apart in <head> and tables). A layout is not used at all, and every email with it is inlined
whole, when a slot sits where text is not plain: in <style>/<script>, a comment, a ``style``
attribute, an unquoted attribute, after a half-written entity, or when the stylesheet selects
by attribute or language (``[href^=...]``, ``:lang()``), which a value could change. The first
email of every layout is also inlined whole and must come out the same, or the layout is
dropped. At most MAX_LAYOUTS layouts are kept (a template that writes values unescaped makes
one per value); later ones are inlined whole, so memory stays flat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import AnyStr

from markupsafe import Markup

MAX_LAYOUTS = 64
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters; a value holding one stays verbatim
# Escaped as jinja escapes; the inliner writes it back as '"&lt; ' in text, '&quot;< ' in an
# attribute, and unchanged where text is raw. The space ends an unquoted attribute early.
_PROBE = f'{_OPEN}&#34;&lt; {_CLOSE}'
_SLOT = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.DOTALL)
_IN_TEXT, _IN_ATTRIBUTE = '"&lt; ', '&quot;< '
# A value read differently from the probe: leading whitespace, markup, a foreign entity,
# CR/NUL, the markers.
_NOT_PLAIN_ANYWHERE = f"[<\\r\\x00{_OPEN}{_CLOSE}]|&(?!(?:amp|lt|gt|#39|#34);)"
_NOT_PLAIN = re.compile(f"^[ \\t\\n\\f]|{_NOT_PLAIN_ANYWHERE}")
_NOT_PLAIN_JOINED = re.compile(f"(?:^|\\x1f)[ \\t\\n\\f]|{_NOT_PLAIN_ANYWHERE}")
# Without these characters, only leading whitespace can make a value not plain.
_SPECIAL = re.compile(f"[<&\\r\\x00{_OPEN}{_CLOSE}]")
_LEADING = " \t\n\f"
_LEADING_AFTER_SEP = re.compile("\\x1f[ \\t\\n\\f]")
# Slots whose text is not plain HTML text, and stylesheets that look at values.
_UNSAFE_SLOT = re.compile(
    f"&[#\\w]*{_OPEN}"  # an entity the template starts and the value would finish
    f"|\\bstyle\\s*=\\s*(?:\"[^\"]*|'[^']*|[^\\s>]*){_OPEN}", re.IGNORECASE)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style", re.IGNORECASE | re.DOTALL)
_VALUE_SELECTOR = re.compile(r"\[|:lang\(|:dir\(", re.IGNORECASE)


def _as_text(value: str) -> str:
    """A jinja-escaped value as the serializer writes text: quotes plain, nbsp as entity."""
    return value.replace("&#39;", "'").replace("&#34;", '"').replace("\xa0", "&nbsp;")


def _as_attribute(value: str) -> str:
    """A jinja-escaped value as the serializer writes a (double-quoted) attribute value."""
    return (value.replace("&#39;", "'").replace("&#34;", "&quot;").replace("&lt;", "<")
            .replace("&gt;", ">").replace("\xa0", "&nbsp;"))


@dataclass(frozen=True)
class Layout:
    pieces: tuple[str, ...]  # inlined text around the slots: one more than slots
    writers: tuple[Callable[[str], str], ...]  # per slot: text or attribute escaping

    def fill(self, values: Sequence[str]) -> str:
        return self.fill_written(self.written(values))

    def fill_written(self, written: Iterable[str]) -> str:
        """The document with values already written as the inliner writes them."""
        return interleave(self.pieces, written)

    def written(self, values: Sequence[str]) -> Sequence[str]:
        """The values as the inlined document has them, slot by slot."""
        joined = "".join(values)
        if "&" not in joined and "\xa0" not in joined:
            return values  # nothing any writer changes
        # As plain str: Markup's own replace() would escape the replacements again.
        return [write(str(value)) if "&" in value or "\xa0" in value else value
                for value, write in zip(values, self.writers, strict=True)]


def interleave(pieces: Sequence[AnyStr], values: Iterable[AnyStr]) -> AnyStr:
    """``pieces`` with a value between each two, joined (text or UTF-8 alike): all in C, one
    pass (str.format would read the whole text for its fields each time; chaining zipped
    pairs into the join took four times as long as two slice assignments). Raises ValueError
    unless there is one value fewer than pieces, and IndexError where there are no pieces
    (the first piece tells text from UTF-8)."""
    joined: list[AnyStr] = [pieces[0]] * (2 * len(pieces) - 1)
    joined[::2] = pieces
    joined[1::2] = values
    return pieces[0][:0].join(joined)


def _is_plain(chunk: str) -> bool:
    return type(chunk) is Markup and plain(chunk)


def plain(value: str) -> bool:
    """Whether an escaped value reads in a slot as the probe does (Layout.fill can take it)."""
    return value != "" and not _NOT_PLAIN.search(value)


def all_plain(values: Sequence[str]) -> bool:
    """``all(map(plain, values))`` in one search: the values joined by a character that only
    makes the search stricter (it is no entity's, and a start may follow it). Values
    without markup, ampersands or the like (most) only need their first characters
    looked at: two searches the regular expression engine makes fast, not one that tries
    every alternative at every character."""
    if not values:
        return True
    if "" in values:
        return False
    joined = "\x1f".join(values)
    if _SPECIAL.search(joined) is None:
        return joined[0] not in _LEADING and _LEADING_AFTER_SEP.search(joined) is None
    return not _NOT_PLAIN_JOINED.search(joined)


def learn_layout(pieces: list[str], inline: Callable[[str], str]) -> Layout | None:
    """The inlined layout of template text ``pieces`` with a slot between each two, or None
    where a slot or the stylesheet is not plain (then inline each email whole)."""
    return LayoutCache.learn(_PROBE.join(pieces), len(pieces) - 1, inline)


class LayoutCache:
    """Inlines rendered HTML (as render_parts gives it) once per layout."""

    def __init__(self) -> None:
        self.layouts: dict[str, Layout | None] = {}  # None: inline every email whole

    def inline(self, parts: list[str], inline: Callable[[str], str]) -> str:
        """``inline("".join(parts))``, from the cached layout when there is one."""
        values: list[str] = []
        skeleton: list[str] = []
        for chunk in parts:
            if _is_plain(chunk):
                values.append(chunk)
                skeleton.append(_PROBE)
            else:
                skeleton.append(chunk)
        key = "".join(skeleton)
        if key in self.layouts:
            layout = self.layouts[key]
            return layout.fill(values) if layout else inline("".join(parts))
        whole = inline("".join(parts))  # the first email of a layout is also its check
        if len(self.layouts) < MAX_LAYOUTS:
            layout = self.learn(key, len(values), inline)
            if layout is not None and layout.fill(values) != whole:
                layout = None
            self.layouts[key] = layout
        return whole

    @staticmethod
    def learn(skeleton: str, slots: int, inline: Callable[[str], str]) -> Layout | None:
        """The inlined layout, or None where a slot or the stylesheet is not plain."""
        if _UNSAFE_SLOT.search(skeleton) or any(
                _VALUE_SELECTOR.search(css) for css in _STYLE.findall(skeleton)):
            return None
        try:
            inlined = inline(skeleton)
        except Exception:  # inlining each email whole reports it properly
            return None
        found = _SLOT.split(inlined)  # text, probe, text, probe, ..., text
        probes = found[1::2]
        if len(probes) != slots or inlined.count(_OPEN) != slots:
            return None
        writers = {_IN_TEXT: _as_text, _IN_ATTRIBUTE: _as_attribute}
        if any(probe not in writers for probe in probes):
            return None  # raw text, a comment, an unquoted attribute: not plain
        return Layout(tuple(found[::2]), tuple(writers[probe] for probe in probes))
