"""LayoutCache: CSS inlined once per layout gives what inlining every email whole gives."""

from __future__ import annotations

import random
import re
from pathlib import Path

import css_inline
import pytest
from jinja2 import Template
from markupsafe import Markup

from crmreport.personalise import make_environment
from crmreport.personalise.styles import MAX_LAYOUTS, LayoutCache, all_plain, interleave
from crmreport.personalise.templating import render_parts

INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
STYLE = ("<style>p { color: red; } .note a { color: blue; } td { padding: 2px; } "
         "@media (max-width: 600px) { p { margin: 0; } }</style>")
# A merge field in every kind of place: text, attributes, the title, a table, a list.
PLAIN = (f"<!DOCTYPE html><html><head><title>{{{{ v }}}}</title>{STYLE}</head><body>"
         "<p class=\"note\">Hallo {{ v }}, <a href=\"https://x.example/{{ v }}\" "
         "title='{{ v }}'>{{ v }}</a></p><table><tr><td>{{ v }}</td></tr></table>"
         "<ul><li>{{ v }}{{ w }}</li></ul></body></html>")
CHARS = ["a", "Ü", "€", " ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\x0c", "\xa0", '"', "'",
         "&", "<", ">", "<b>", "&amp;", "&euro;", "&#39;", "&lt", "\ue000", "\ue001", ";", "="]


def _inline(html: str) -> str:
    return str(INLINER.inline(html))


def _env(tmp_path: Path, source: str, name: str = "t.html.j2") -> Template:
    (tmp_path / name).write_text(source, encoding="utf-8")
    return make_environment(tmp_path).get_template(name)


def _values(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6))) for _ in range(count)]


def test_layout_fills_give_what_whole_inlining_gives(tmp_path: Path) -> None:
    template = _env(tmp_path, PLAIN)
    cache = LayoutCache()
    values = ["Anna", *_values(1, 400)]
    for v, w in zip(values, reversed(values), strict=True):
        parts = render_parts(template, {"v": v, "w": w})
        assert cache.inline(parts, _inline) == _inline("".join(parts)), (v, w)
    # The plain layout (both values plain text) was learnt and used, not set aside.
    assert any(layout is not None for layout in cache.layouts.values())


def test_a_plain_layout_is_inlined_once(tmp_path: Path) -> None:
    template = _env(tmp_path, PLAIN)
    calls: list[str] = []

    def counted(html: str) -> str:
        calls.append(html)
        return _inline(html)

    cache = LayoutCache()
    for name in ["Anna", "Jürgen & Söhne", 'Zoë "Z" O\'Neill', "Ben"]:
        cache.inline(render_parts(template, {"v": name, "w": "x"}), counted)
    assert len(calls) == 2  # the first email whole, and its layout once
    assert len(cache.layouts) == 1


@pytest.mark.parametrize("source", [
    f"<html><head>{STYLE}<style>p::after {{ content: '{{{{ v }}}}'; }}</style></head>"
    "<body><p>x</p></body></html>",  # in a stylesheet: raw text
    f"<html><head>{STYLE}</head><body><p style=\"margin: {{{{ v }}}}\">x</p></body></html>",
    f"<html><head>{STYLE}</head><body><a href={{{{ v }}}}>x</a></body></html>",  # unquoted
    f"<html><head>{STYLE}</head><body><p>&{{{{ v }}}}</p></body></html>",  # half an entity
    f"<html><head>{STYLE}</head><body><!-- {{{{ v }}}} --><p>x</p></body></html>",
    "<html><head><style>a[href^='https'] { color: red; }</style></head>"
    "<body><a href=\"{{ v }}\">x</a></body></html>",  # the stylesheet reads a value
    "<html lang=\"{{ v }}\"><head><style>p:lang(de) { color: red; }</style></head>"
    "<body><p>x</p></body></html>",
])
def test_layouts_a_value_could_change_are_inlined_whole(tmp_path: Path, source: str) -> None:
    template = _env(tmp_path, source)
    cache = LayoutCache()
    for v in ["de", "https://a.example/x y", "amp;", "a b", "lt;x", "x"]:
        parts = render_parts(template, {"v": v})
        try:
            whole = _inline("".join(parts))
        except css_inline.InlineError:  # CSS the value breaks: the cache reports it alike
            with pytest.raises(css_inline.InlineError):
                cache.inline(parts, _inline)
            continue
        assert cache.inline(parts, _inline) == whole
    assert list(cache.layouts.values()) == [None]


def test_markup_and_leading_space_stay_in_the_layout(tmp_path: Path) -> None:
    """A macro's markup or a value starting with a space is part of the layout's key."""
    cache = LayoutCache()
    for value in [Markup("<b>x</b>"), Markup(" x"), Markup("<b>x</b>")]:
        parts = [f"<html><head>{STYLE}</head><body><p>", value, "</p></body></html>"]
        assert cache.inline(parts, _inline) == _inline("".join(parts))
    assert len(cache.layouts) == 2


def test_layouts_kept_are_bounded() -> None:
    """Values written unescaped (plain str) make a layout each; at most MAX_LAYOUTS kept."""
    cache = LayoutCache()
    for i in range(MAX_LAYOUTS + 10):
        parts = [f"<html><head>{STYLE}</head><body><p>{i}</p></body></html>"]
        assert cache.inline(parts, _inline) == _inline(parts[0])
    assert len(cache.layouts) == MAX_LAYOUTS


# Characters that decide whether a value is plain or keeps its lines, and ordinary ones.
_EDGY = [" ", "\t", "\n", "\f", "\r", "\x00", "\x1f", "\x1c", "\xa0", "\u2028", "\u3000", "<",
         ">", "&", "&amp;", "&lt;", "&#39;", "&#34;", "&euro;", "&x", "\ue000", "\ue001", "a",
         "Ö", "1", ";", "#"]


def _random_values(rng: random.Random) -> list[str]:
    return ["".join(rng.choices(_EDGY, k=rng.randrange(4))) for _ in range(rng.randrange(5))]


def test_all_plain_answers_as_one_search_over_the_joined_values() -> None:
    """The fast path for values without special characters gives what the search it skips
    gives (written out here as it stood before the fast path)."""
    whole = re.compile("(?:^|\x1f)[ \t\n\f]|[<\r\x00\ue000\ue001]|&(?!(?:amp|lt|gt|#39|#34);)")
    rng = random.Random(7)
    cases = [_random_values(rng) for _ in range(20_000)] + [[], [""], ["a", ""], ["a\x1f b"]]
    for values in cases:
        expected = "" not in values and not whole.search("\x1f".join(values))
        assert all_plain(values) == expected, values


def test_interleave_puts_one_value_between_each_two_pieces() -> None:
    assert interleave(("a", "b", "c"), iter(["1", "2"])) == "a1b2c"
    assert interleave(("only",), []) == "only"
    for values in (["1"], ["1", "2", "3"]):
        with pytest.raises(ValueError):
            interleave(("a", "b", "c"), values)
    with pytest.raises(IndexError):
        interleave((), [])
