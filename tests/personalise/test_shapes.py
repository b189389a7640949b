"""Shapes: an email filled into the shape of its recipient's values is, byte for byte, the
email the full sandboxed render gives; what cannot be analysed is rendered in full."""

from __future__ import annotations

import binascii
import datetime as dt
import operator
import random
import re
import shutil
from collections.abc import Mapping
from decimal import Decimal
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup, escape

import crmreport.personalise.email as email_module
from crmreport.errors import TemplateError
from crmreport.personalise import EmailBatch, EmailSettings, make_environment, render_emails
from crmreport.personalise.legal import merge_fields
from crmreport.personalise.shapes import (
    _MISSING,
    _OPS,
    _SYMBOLS,
    OPEN,
    Part,
    Shape,
    Spec,
    Unsafe,
    _escaped,
    _unmarked,
    analyse,
    encoded,
    free_of,
    keep_lines,
    split,
)
from crmreport.personalise.styles import interleave

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = EmailSettings(
    sender="Schöner Laden <news@shop.example>", reply_to=None,
    unsubscribe_url="https://shop.example/unsubscribe?t={token}",
    unsubscribe_mailto="unsubscribe@shop.example", max_bytes=102_000,
    date=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), secret="k3y-0f-th3-t3st-shop-2026")
# Merge values that HTML, headers, tidying, quoted-printable, the MIME boundary (and the 998
# octets of a line) or the shapes' own tokens could treat apart from plain text.
HOSTILE = ["Anna", "Müller", "<script>alert(1)</script>", "O'Neill & Söhne", 'Zoë "Z"',
           "&amp; &euro;", "Anna\xa0Maria", " Leading", "trailing ", "a\nb", "a\r\nb", "",
           "=?utf-8?b?QQ==?=", "x" * 90, ".", "=3D", "tab\there", f"{OPEN}0\"\ue011",
           "\ue000&#34;&lt; \ue001", "Łódź 🎉", "<b>bold</b>", "&lt", "Øster;gaard",
           "nul\x00here", "lone\rcr", "=_crm_", "a=_crm_0123456789abcdef01234567b",
           "y" * 1000, "ü" * 499]  # the last two: over 998 octets on any line they are on


def _recipient(rng: random.Random, i: int, templates: list[str]) -> dict[str, Any]:
    """A demo-like recipient (the fields outputs.py gives), any field missing, the shown ones
    hostile (the steering ones too, where the templates only show them)."""
    locale = rng.choice(["de_DE", "en_GB", "fr_FR"])
    person: dict[str, Any] = {
        "customer_id": f"C{i:05}", "email": f"p{i}@example.de", "template": rng.choice(templates),
        "locale": locale, "salutation": rng.choice(["Frau", "Mr", "HERR "]),
        "first_name": rng.choice(HOSTILE), "last_name": rng.choice(HOSTILE),
        "company": rng.choice(HOSTILE), "campaign": "spring-2026", "segment": "at_risk",
        "offer": "winback-15", "variant": rng.choice("AB"), "currency": "EUR",
        "monetary": rng.choice([Decimal("1234.50"), Decimal("1234.5"), 0, -3, 99.999, 10**7,
                                Decimal("0.00")]),
        "recency_days": rng.choice([0, 60, 61, 400]), "repeat_orders": rng.choice([0, 1, 5]),
        "coupon": rng.choice(HOSTILE), "coupon_valid_until": dt.date(2026, 3, 31),
        "suggested_category": rng.choice(["books", "unknown", "<script>alert(1)</script>"]),
        "as_of": dt.date(2026, 3, 1), "points": rng.choice([0, 7, 150, 2500]),
        "items": rng.choice([["a"], ["b", "<c>"], []]), "vip": rng.choice([True, False, 0, 1]),
        "since": dt.date(2020, 1, rng.randint(1, 28)),
        **merge_fields(None, locale or "de_DE")}
    for name in list(person):  # None values are dropped before rendering: fields go missing
        if name not in ("customer_id", "email", "template") and rng.random() < 0.03:
            del person[name]
    return person


def _people(count: int, templates: list[str], seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [_recipient(rng, i, templates) for i in range(count)]


def _build(out: Path, templates: Path, people: list[dict[str, Any]]
           ) -> tuple[EmailBatch, dict[str, bytes], bytes]:
    out.mkdir(parents=True)
    (out / "emails").mkdir()
    batch = render_emails(people, make_environment(templates), SETTINGS, out / "emails",
                          out / "esp.csv", workers=1)
    files = {p.name: p.read_bytes() for p in (out / "emails").iterdir()}
    return batch, files, (out / "esp.csv").read_bytes()


def _both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, templates: Path,
               people: list[dict[str, Any]]) -> tuple[dict[str, bytes], int]:
    """The emails built from shapes, after checking they are the bytes (and esp.csv and the
    quarantine) the full render of every email gives; and how many full renders it took."""
    renders = []
    full = email_module._Builder._render_parts

    def counted(self: Any, *args: Any) -> Any:
        renders.append(1)
        return full(self, *args)

    monkeypatch.setattr(email_module._Builder, "_render_parts", counted)
    fast = _build(tmp_path / "shapes", templates, people)
    made = len(renders)
    monkeypatch.setattr(email_module, "MAX_SHAPES", 0)  # no shape kept: every email rendered
    slow = _build(tmp_path / "full", templates, people)
    assert fast[1].keys() == slow[1].keys()
    for name, data in fast[1].items():
        assert data == slow[1][name], name
    assert fast[2] == slow[2]
    assert (fast[0].quarantined, fast[0].errors) == (slow[0].quarantined, slow[0].errors)
    for data in fast[1].values():  # and the standard library reads every one without defects
        message = BytesParser(policy=default_policy).parsebytes(data)
        assert not message.defects and all(not part.defects for part in message.walk())
    return fast[1], made


def _templates(tmp_path: Path, text: str, html: str, name: str = "t") -> Path:
    root = tmp_path / "templates"
    (root / "email").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "templates" / "macros.j2", root / "macros.j2")
    (root / "email" / f"{name}.txt.j2").write_text(text, encoding="utf-8")
    (root / "email" / f"{name}.html.j2").write_text(html, encoding="utf-8")
    return root


NOTICE_TEXT = "\n{{ objection_notice }}\n{% endblock %}"
NOTICE_HTML = "<p>{{ objection_notice }}</p></body></html>"
STYLE = ("<!DOCTYPE html><html><head><style>p { color: #333; } .x a { color: blue; }"
         "@media (max-width: 600px) { p { margin: 0; } }</style></head><body>")


def test_the_demo_templates_give_the_full_renders_bytes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo templates, 600 demo-like recipients with hostile and missing values."""
    people = _people(600, ["vip", "winback", "welcome"])
    files, renders = _both_ways(tmp_path, monkeypatch, ROOT / "templates", people)
    assert len(files) > 500
    assert renders < len(people)  # most were filled into shapes, not rendered


def test_recipients_of_one_shape_take_two_renders(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Hostile names and codes, each shown in text, HTML text and attributes, filled in."""
    count = len(HOSTILE)
    people = [{"customer_id": f"C{i}", "email": f"p{i}@example.de",
               "template": ("vip", "winback", "welcome")[i % 3],
               "locale": ("de_DE", "en_GB")[i % 2], "salutation": ("Frau", "Mr")[i % 2],
               "first_name": HOSTILE[i % count], "last_name": HOSTILE[(i * 5) % count],
               "company": HOSTILE[(i * 3) % count], "monetary": Decimal(100 + i) / 7,
               "currency": "EUR", "coupon": HOSTILE[(i * 7) % count], "recency_days": 30 + i,
               **merge_fields(None, ("de_DE", "en_GB")[i % 2])}
              for i in range(240)]
    _, renders = _both_ways(tmp_path, monkeypatch, ROOT / "templates", people)
    # A shape per template, language (and salutation), recency above 60 or not and whether
    # there is a last name: each rendered twice (in full, then with stand-ins), not again.
    assert renders <= 2 * 3 * 2 * 2 * 2


CONDITIONS = ("{% block subject %}Hallo {{ first_name }}{% endblock %}{% block body %}"
              "{% if vip %}VIP {{ last_name }}{% elif points > 100 %}Viele Punkte: {{ points }}"
              "{% else %}Willkommen{% endif %}\n{% if coupon is defined and coupon %}Code: "
              "{{ coupon }}{% endif %}{% if not last_name %}(ohne Namen){% endif %}\n"
              "{{ 'ja' if recency_days >= 61 else 'nein' }} {{ salutation in ('Frau', 'Ms') }}"
              + NOTICE_TEXT)
CONDITIONS_HTML = (STYLE + '<p class="x">Hallo <a href="https://x.example/?n={{ first_name }}"'
                   ' title="{{ last_name }}">{{ first_name }}</a></p>{% if vip %}<p>VIP '
                   "{{ last_name }}</p>{% endif %}{% if 100 < points %}<p>{{ points }}</p>"
                   "{% endif %}<p>{{ unsubscribe_url }}</p>" + NOTICE_HTML)
LOOPS = ("{% block subject %}{{ first_name }} & {{ last_name }}{% endblock %}{% block body %}"
         "{% for item in items %}- {{ item }} for {{ first_name }}\n{% endfor %}"
         "{% for i in range(recency_days % 3) %}{{ loop.index }}. {{ last_name }}\n{% endfor %}"
         "{% set greeting = 'Hi ' ~ first_name %}{{ greeting }}" + NOTICE_TEXT)
LOOPS_HTML = (STYLE + "<ul>{% for item in items %}<li>{{ item }} {{ last_name }}</li>"
              "{% endfor %}</ul>" + NOTICE_HTML)
FILTERS = ("{% block subject %}{{ last_name | upper }} {{ monetary | money }}{% endblock %}"
           "{% block body %}{{ first_name | default('friend') }} {{ since | date(style='long') }}"
           " {{ points | number }} {{ last_name | length }} {{ first_name ~ '!' }}"
           " {{ (first_name or 'x') | title }} {{ coupon | default('none') | lower }}"
           " {{ monetary | money('GBP') }} {{ '%s' % last_name }} {{ last_name[:2] }}"
           " {{ [first_name, last_name] | join('/') }} {{ first_name | e }}"
           + NOTICE_TEXT)
FILTERS_HTML = (STYLE + "<p>{{ last_name | upper }} {{ monetary | money }}"
                " {{ first_name | default('friend') }} {{ last_name | safe }}"
                " {{ since | date }} {{ first_name | truncate(5) }}</p>" + NOTICE_HTML)
MACROS = ('{% block subject %}Hallo{% endblock %}{% block body %}{% import "macros.txt.j2" as m %}'
          "{{ m.greeting('de', salutation | default(''), last_name | default('')) }}\n"
          "{{ m.cross_sell('en', suggested_category | default('')) }}\n"
          "{% macro shout(v) %}{{ v | upper }}!{% endmacro %}{{ shout(first_name) }}"
          + NOTICE_TEXT)
MACROS_HTML = (STYLE + '{% import "macros.html.j2" as m %}<p>{{ m.greeting(\'en\', salutation'
               " | default(''), last_name | default('')) }}</p><p>{{ m.name_line('de', "
               "salutation | default(''), first_name | default(''), last_name | default(''))"
               " }}</p>" + NOTICE_HTML)
# Values reached by other ways than their names, slots where HTML text is not plain.
TRICKY = ("{% block subject %}{{ first_name }}{% endblock %}{% block body %}{{ self.subject() }}"
          " {% set x = coupon %}{{ x }} {{ {'a': first_name}.a }} {{ first_name.upper() }}"
          " {% if self.subject() == 'Anna' %}Anna!{% endif %}{{ last_name }}" + NOTICE_TEXT)
TRICKY_HTML = (STYLE + "<p style=\"margin: {{ points }}px\" title={{ variant }}>{{ coupon }}"
               "</p><!-- {{ first_name }} --><p>{{ last_name }}</p>" + NOTICE_HTML)
# Constructs that change what a value becomes: not analysed, every email rendered in full.
HOSTILE_TEXT = ("{% block subject %}{% filter upper %}{{ first_name }}{% endfilter %}"
                "{% endblock %}{% block body %}{{ last_name }}" + NOTICE_TEXT)
HOSTILE_HTML = (STYLE + "{% autoescape false %}<p>{{ last_name }}</p>{% endautoescape %}"
                + NOTICE_HTML)

# Lines near RFC 5322's 998 octets: over it with some values, always over it in the HTML: those
# parts go quoted-printable, from the shape's encoded lines.
LONG = ("{% block subject %}Hallo{% endblock %}{% block body %}" + "ü" * 300 + "x" * 380
        + " {{ first_name }} {{ last_name }}.\n{{ coupon }}" + NOTICE_TEXT)
LONG_HTML = (STYLE + "<p>" + "Lange Zeile. " * 80 + "</p>\n<p>{{ first_name }}</p>"
             + NOTICE_HTML)


@pytest.mark.parametrize(("text", "html"), [
    (CONDITIONS, CONDITIONS_HTML), (LOOPS, LOOPS_HTML), (FILTERS, FILTERS_HTML),
    (MACROS, MACROS_HTML), (TRICKY, TRICKY_HTML), (HOSTILE_TEXT, HOSTILE_HTML),
    (LONG, LONG_HTML)],
    ids=["conditions", "loops", "filters", "macros", "tricky", "hostile", "long"])
def test_templates_give_the_full_renders_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               text: str, html: str) -> None:
    root = _templates(tmp_path, text, html)
    files, _ = _both_ways(tmp_path, monkeypatch, root, _people(150, ["t"], seed=len(text)))
    if text == LONG:  # both encodings made, the text's as the values' lengths decide
        encodings = [re.findall(rb"Transfer-Encoding: (\S+)", data) for data in files.values()]
        assert {e[0] for e in encodings} == {b"8bit", b"quoted-printable"}
        assert {e[1] for e in encodings} == {b"quoted-printable"}


def test_an_include_and_a_base_layout_are_followed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = _templates(tmp_path, "{% block subject %}Hi{% endblock %}{% block body %}"
                      '{% include "email/part.txt.j2" %}' + NOTICE_TEXT,
                      '{% extends "email/base.html.j2" %}{% block content %}<p>'
                      "{{ first_name }}</p>{% endblock %}")
    (root / "email" / "part.txt.j2").write_text("{% if vip %}{{ first_name }}{% endif %}")
    shutil.copy(ROOT / "templates" / "email" / "base.html.j2", root / "email")
    _both_ways(tmp_path, monkeypatch, root, _people(80, ["t"], seed=7))


def test_the_sandbox_still_stops_a_hostile_template(tmp_path: Path) -> None:
    root = _templates(tmp_path, "{% block subject %}x{% endblock %}{% block body %}"
                      "{{ last_name.__class__.__mro__ }}" + NOTICE_TEXT,
                      STYLE + "<p>{{ first_name }}</p>" + NOTICE_HTML)
    people = [{"customer_id": f"C{i}", "email": f"p{i}@example.de", "template": "t",
               "last_name": "X", "first_name": "Y", "objection_notice": "N"} for i in range(12)]
    with pytest.raises(TemplateError, match="blocked by the template sandbox"):
        _build(tmp_path / "out", root, people)


def test_more_keys_than_shapes_kept_still_give_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_module, "MAX_SHAPES", 3)
    _both_ways(tmp_path, monkeypatch, ROOT / "templates", _people(60, ["vip", "winback"]))


def _names(text: str, html: str, tmp_path: Path) -> Any:
    root = _templates(tmp_path, text, html)
    return analyse(make_environment(root), ["email/t.txt.j2", "email/t.html.j2"])


def test_the_analysis_sorts_fields_by_their_use(tmp_path: Path) -> None:
    spec = _names("{% block subject %}{{ a }}{% endblock %}{% block body %}{% if b %}"
                  "{{ c | money }}{% endif %}{% if d > 3 %}{% endif %}{{ e | upper }}"
                  "{% for x in f %}{{ x }}{% endfor %}{{ g if g is defined }}{% endblock %}",
                  "<p>{{ a }}{{ h ~ '' }}</p>", tmp_path)
    shown = {name: (truth, [const for _, const in tests]) for name, truth, tests in spec.shown}
    tested = {name: (truth, [const for _, const in tests]) for name, truth, tests in spec.tested}
    assert shown == {"a": (False, []), "c": (False, []), "g": (False, [])}
    assert tested == {"b": (True, []), "d": (False, [3])}
    assert {"e", "f", "h", "locale", "currency"} <= set(spec.steering)
    assert not {"a", "b", "c", "d", "g"} & set(spec.steering)


def test_output_that_becomes_a_value_steers(tmp_path: Path) -> None:
    """A captured block's length, a macro that changes its parameter: the values steer."""
    (tmp_path / "templates" / "email").mkdir(parents=True)
    (tmp_path / "templates" / "own.j2").write_text(
        "{% macro twice(v) %}{% set v = v ~ v %}{{ v }}{% endmacro %}")
    spec = _names("{% block subject %}{% set x %}{{ a }}{% endset %}{{ x | length }}"
                  '{% endblock %}{% block body %}{% import "own.txt.j2" as o %}'
                  "{{ o.twice(b) }}{% endblock %}", "<p>x</p>", tmp_path)
    assert {"a", "b"} <= set(spec.steering)


@pytest.mark.parametrize("body", [
    "{% filter upper %}{{ a }}{% endfilter %}",
    "{% autoescape false %}{{ a }}{% endautoescape %}",
    '{% import "macros.txt.j2" as m with context %}{{ m.greeting("de", a, b) }}',
    "{% include a %}",
])
def test_constructs_the_analysis_does_not_follow_leave_it_unshaped(tmp_path: Path,
                                                                   body: str) -> None:
    assert _names("{% block subject %}x{% endblock %}{% block body %}" + body
                  + "{% endblock %}", "<p>x</p>", tmp_path) is None


def test_an_altered_token_is_refused() -> None:
    from crmreport.personalise.shapes import StandIn

    holes: list[Any] = []
    token = str(StandIn("v", _hole("a"), holes))
    assert split(f"x{token}y") == (["x", "y"], [(0, False)])
    for altered in (token.upper(), token[:-1], token.replace('"', "&amp;#34;"),
                    f"{OPEN}0\"\ue011"):
        with pytest.raises(Unsafe):
            split(f"x{altered}y")


def _hole(name: str) -> Any:
    from crmreport.personalise.shapes import Hole
    return Hole(name)


def _qp(text: str) -> bytes:
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(lf.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def test_line_by_line_quoted_printable_is_the_whole_texts() -> None:
    """Encoding template lines once and value lines per email gives what encoding the whole
    gives: soft breaks, trailing blanks, dots and '=' included, whatever the values hold."""
    rng = random.Random(3)
    alphabet = ["a", "ü", " ", "\t", "\n", "=", ".", "€", "x" * 40, "\r\n", "\r"]
    for _ in range(400):
        pieces = tuple("".join(rng.choice(alphabet[:9]) for _ in range(rng.randint(0, 30)))
                       for _ in range(rng.randint(1, 5)))
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                  for _ in pieces[1:]]
        plan = encoded(pieces, _qp)
        assert plan is not None
        whole = "".join(p + v for p, v in zip(pieces, [*values, ""], strict=True))
        assert plan.fill(values) == _qp(whole), (pieces, values)
    assert encoded(("a\r", "b"), _qp) is None  # a CR in template text: encoded whole


def test_the_email_modules_encoder_is_the_one_checked_here() -> None:
    text = "Grüße =\n" + "y" * 200 + " \n."
    assert email_module._qp(text) == _qp(text)


def test_a_formatting_filter_refusing_a_value_reports_as_the_render_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _templates(tmp_path, "{% block subject %}x{% endblock %}{% block body %}"
                      "{{ monetary | money }}" + NOTICE_TEXT,
                      STYLE + "<p>{{ monetary | money }}</p>" + NOTICE_HTML)
    people: list[Mapping[str, Any]] = [
        {"customer_id": f"C{i}", "email": f"p{i}@example.de", "template": "t",
         "objection_notice": "N", "monetary": Decimal(i) if i % 4 else "kein Betrag"}
        for i in range(1, 30)]
    fast, _ = _both_ways(tmp_path, monkeypatch, root, list(people))  # type: ignore[arg-type]
    assert len(fast) == 29 - 7 and not re.search(b"kein", b"".join(fast.values()))


@pytest.mark.parametrize("value", ["plain", "O'Neill & Söhne", '<b a="1">', "&amp;", "",
                                   Markup("<b>kept</b>"), Decimal("-1.50"), 7, None])
def test_a_value_is_escaped_as_markupsafe_escapes_it(value: Any) -> None:
    assert _escaped(value) == str(escape(value))


def test_keep_lines_answers_as_one_search_over_the_joined_values() -> None:
    """Line breaks anywhere, whitespace (as the regular expressions' \\s) ending a value:
    the same answers as the single search it replaced (written out here)."""
    whole = re.compile("[\\n\\r]|\\s(?=\x1f|\\Z)")
    edgy = [" ", "\t", "\n", "\r", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000",
            "a", "Ö", "-"]
    rng = random.Random(11)
    cases = [["".join(rng.choices(edgy, k=rng.randrange(4))) for _ in range(rng.randrange(5))]
             for _ in range(20_000)] + [[], [""], ["a", ""]]
    for c in map(chr, range(0x3100)):  # every character ending a value, before a separator
        cases += [[f"a{c}", "b"], ["b", f"a{c}"]]  # and at the end
    for values in cases:
        expected = "" not in values and not whole.search("\x1f".join(values))
        assert keep_lines(values) == expected, values


def _key_as_read(spec: Spec, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """What Spec.key's written code must give, read the plain way."""
    parts: list[Any] = [
        v if type(v) is str or v is _MISSING else (type(v), repr(v))
        for v in (values.get(name, _MISSING) for name in spec.steering)]
    for name, truth, tests in (*spec.shown, *spec.tested):
        parts.append(_MISSING if name not in values else (
            bool(values[name]) if truth else None,
            *[op(values[name], const) for op, const in tests]))
    return tuple(parts)


def test_a_specs_key_function_answers_as_reading_each_value_does(tmp_path: Path) -> None:
    """Steering text, typed values and missing fields; truth and every comparison, those a
    value cannot make raising as they do (the render reports them); names that are not
    identifiers (steering, shown and tested) reach the code as literals."""
    spec = _names('{% block subject %}{{ tier }}{% if amount > 100 %}big{% endif %}'
                  '{% if code in ("A", "B") %}ab{% endif %}{% endblock %}{% block body %}'
                  '{{ name }}{% if name %}{{ name }}{% endif %}{{ city | upper }}'
                  "{{ tier | lower }}{{ amount }}{{ code }}{% if 3 <= score %}top{% endif %}"
                  "{% endblock %}", "<p>{{ name }}</p>", tmp_path)
    assert spec is not None and "city" in spec.steering and spec.tested
    odd = ["odd name'\"\\", "shown'); import os #", 'tested"\n\x00\\']  # steering, shown, tested
    spec = Spec((*spec.steering, odd[0]),
                (*spec.shown, (odd[1], True, ((_OPS["gt"], 100),))),
                (*spec.tested, (odd[2], False, ((_OPS["in"], ("A", "B")), (_OPS["ne"], 0)))))
    rng = random.Random(17)
    pool = ["", "A", "B", "x", 0, 1, 1.0, 150, Decimal("100"), None, True, Markup("A"),
            dt.date(2026, 3, 1), ("A",)]
    names = ["tier", "amount", "code", "name", "city", "score", *odd]
    for _ in range(5_000):
        values = {name: rng.choice(pool) for name in names if rng.random() < 0.8}
        try:
            expected: Any = _key_as_read(spec, values)
        except TypeError as exc:
            expected = type(exc)
        try:
            got: Any = spec.key(values)
        except TypeError as exc:
            got = type(exc)
        assert got == expected, values


def test_pieces_free_of_the_boundary_start_and_unmarked_values_make_no_boundary() -> None:
    """What lets an email skip looking for its boundary, CR and NUL in a part: pieces
    free_of the boundary's start and values without "=", CR or NUL never make one."""
    start = "=_crm_"
    rng = random.Random(5)
    alphabet = ["=", "_", "c", "r", "m", "0", "a", "\r", "\x00", " ", "=_crm_", "=_cr", "m_"]
    free = 0
    for _ in range(50_000):
        pieces = ["".join(rng.choices(alphabet, k=rng.randrange(4))) for _ in range(3)]
        values = ["".join(rng.choices(alphabet, k=rng.randrange(3))) for _ in range(2)]
        if free_of(pieces, start) and _unmarked("".join(values)):
            free += 1
            whole = interleave(pieces, values)
            assert start not in whole and "\r" not in whole and "\x00" not in whole
    assert free > 1_000
    assert not free_of(["a=_c", "b"], start) and not free_of(["x\r"], start)
    assert free_of(["a=b", "=_crx_"], start)


def test_a_spec_whose_key_cannot_be_written_fails_when_built() -> None:
    """Every comparison the analysis records has a symbol; one without, or a name that is
    not a str, fails building the Spec (once), not each recipient's key."""
    assert set(_OPS.values()) <= set(_SYMBOLS)
    with pytest.raises(ValueError, match="no symbol"):
        Spec((), (("amount", False, ((operator.is_, None),)),), ())

    class Name(str):
        def __repr__(self) -> str:
            return "x"

    with pytest.raises(TypeError):
        Spec((Name("tier"),), (), ())
    with pytest.raises(TypeError):
        Spec((), (), ((Name("tier"), True, ()),))


def test_a_shapes_texts_function_reads_hostile_names_as_literals() -> None:
    """Shape.texts_of's written code: each value read by its name (quotes, backslashes, a
    line break, NUL, code), formatted or not, then shown as it is or escaped."""
    names = ["plain", "odd name'\"\\", "x'); import os #", 'q"\n\x00\\', "ü{0}"]
    writers: tuple[tuple[str, Any], ...] = (
        (names[0], None), (names[1], lambda v: str(v).upper()), (names[2], None),
        (names[3], lambda v: f"<{v}>"), (names[4], None))
    texts = ((0, False), (1, True), (2, True), (3, False), (3, True), (4, False), (0, True))
    empty = Part(("",), ())
    shape = Shape(writers, texts, empty, empty, empty, empty, None, None, None, 0, 0)
    rng = random.Random(11)
    pool = [*HOSTILE, 0, 1.5, None, Markup("<b>&amp;</b>"), dt.date(2026, 3, 1)]
    for _ in range(2_000):
        values = {name: rng.choice(pool) for name in names}
        written = [write(values[name]) if write else values[name] for name, write in writers]
        expected = [str(escape(written[at])) if escaped else str(written[at])
                    for at, escaped in texts]
        assert shape.texts_of(values) == expected, values
    with pytest.raises(KeyError):
        shape.texts_of({name: "a" for name in names[1:]})


def test_a_filled_parts_longest_line_is_the_shapes_and_its_values_octets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the fill says of a part's longest line (its pieces' longest line and all its
    values' octets, from the part's length) is at least the longest line it has: the 8bit
    check relies on it. Demo templates, hostile values (some over 998 octets)."""
    fills: list[tuple[Shape, Any, Any]] = []
    fill = Shape.fill

    def recorded(self: Shape, values: Any, *args: Any) -> Any:
        filled = fill(self, values, *args)
        fills.append((self, values, filled))
        return filled

    monkeypatch.setattr(Shape, "fill", recorded)
    _build(tmp_path / "run", ROOT / "templates", _people(400, ["vip", "winback", "welcome"]))
    measured = [fill for fill in fills if fill[2].text_longest is not None]
    assert len(measured) > 200
    for shape, values, filled in measured:
        # the values' octets as the text takes them, counted apart from the fill
        octets = sum(len(v.encode()) for v in shape.tidy.pick(shape.texts_of(values)))
        assert filled.text_longest == shape.text_longest + octets
        assert filled.text_longest >= max(map(len, filled.text.split(b"\n")))
        if filled.html_longest is not None:
            assert filled.html_longest >= max(map(len, filled.html.split(b"\n")))
    assert any(filled.html_longest is not None for _, _, filled in measured)
