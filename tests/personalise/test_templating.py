"""The sandboxed environment: filters, template choice, and errors that locate the problem."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from crmreport.errors import TemplateError
from crmreport.personalise.templating import (
    TemplateCache,
    alarm_handler,
    load_template,
    make_environment,
    render,
    template_candidates,
)

ROOT = Path(__file__).resolve().parents[2]


def _templates(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "templates"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _render_string(source: str, **context: object) -> str:
    env = make_environment(ROOT / "templates")
    return env.from_string(source).render(**context)


@pytest.mark.parametrize(("locale", "expected"), [("de_DE", "1.234,50\u00a0€"),
                                                  ("en_GB", "€1,234.50")])
def test_money_formats_per_locale(locale: str, expected: str) -> None:
    text = _render_string("{{ amount | money('EUR', locale) }}", amount=1234.5, locale=locale)
    assert text == expected


def test_money_takes_currency_and_locale_from_the_data() -> None:
    text = _render_string("{{ amount | money }}", amount=Decimal("-1000000.005"),
                          currency="GBP", locale="en_GB")
    assert text == "-£1,000,000.01"


def test_remembered_amounts_are_formatted_as_each_reads() -> None:
    """Formatted amounts are remembered by type and text; repeats and equal values of other
    types come out as they would alone."""
    source = "{% for a in amounts %}{{ a | money('EUR', locale) }}|{% endfor %}"
    amounts = [0.0, -0.0, Decimal("1.5"), 1.5, Decimal("1.005"), 1, 1.0, 2.675, 2.675]
    assert _render_string(source, amounts=amounts, locale="en_GB") == (
        "€0.00|€0.00|€1.50|€1.50|€1.01|€1.00|€1.00|€2.68|€2.68|")
    assert _render_string(source, amounts=amounts[2:4], locale="de_DE") == "1,50\u00a0€|" * 2


@pytest.mark.parametrize(("locale", "style", "expected"), [
    ("de_AT", "short", "01.03.2026"), ("de_AT", "long", "1. März 2026"),
    ("en_GB", "short", "1 Mar 2026"), ("en_GB", "long", "1 March 2026")])
def test_date_formats_per_locale(locale: str, style: str, expected: str) -> None:
    assert _render_string("{{ d | date(locale, style) }}", d=dt.date(2026, 3, 1),
                          locale=locale, style=style) == expected


def test_filters_use_the_recipient_locale_else_the_campaign_locale(tmp_path: Path) -> None:
    root = _templates(tmp_path, {
        "a.txt.j2": "{{ amount | money }} {{ d | date }} {{ 'AT' | country }}",
        "n.txt.j2": "{{ 1234.5 | number(1, arg) }}"})
    env = make_environment(root, "de_CH")
    a, n = env.get_template("a.txt.j2"), env.get_template("n.txt.j2")
    context = {"amount": Decimal("1234.5"), "currency": "CHF", "d": dt.date(2026, 3, 1)}
    assert a.render(context) == "CHF\u00a01'234.50 01.03.2026 Österreich"
    assert a.render(context | {"locale": "en-GB"}) == "CHF1,234.50 1 Mar 2026 Austria"
    # A bare language keeps the recipient's region; an unknown locale falls back.
    assert n.render(arg="de", locale="de_AT") == "1.234,5"
    assert n.render(arg=None, locale="xx_YY") == "1'234.5"


def test_language_folder_first_then_the_campaign_language_then_the_kind_folder(
        tmp_path: Path) -> None:
    root = _templates(tmp_path, {"email/de/n.txt.j2": "de", "email/en/n.txt.j2": "en",
                                 "email/n.txt.j2": "plain", "email/p.txt.j2": "plain"})
    cache = TemplateCache(make_environment(root, "en_GB"), "email")
    assert template_candidates("email", "n", "txt", "de_AT", "en_GB") == [
        "email/de/n.txt.j2", "email/en/n.txt.j2", "email/n.txt.j2"]
    assert cache.get({"template": "n", "locale": "de_AT"}, "txt").render() == "de"
    # No locale, or one no template is written in: the campaign's language.
    assert cache.get({"template": "n"}, "txt").render() == "en"
    assert cache.get({"template": "n", "locale": "fr_FR"}, "txt").render() == "en"
    assert cache.get({"template": "p", "locale": "fr_FR"}, "txt").render() == "plain"


def test_letters_choose_templates_the_same_way(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"letter/de/n.html.j2": "de", "letter/en/n.html.j2": "en"})
    cache = TemplateCache(make_environment(root, "de_DE"), "letter")
    assert cache.get({"template": "n"}, "html").render() == "de"
    assert cache.get({"template": "n", "locale": "en_US"}, "html").render() == "en"


def test_templates_are_compiled_once_per_batch(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"email/en/n.txt.j2": "x"})
    cache = TemplateCache(make_environment(root), "email")
    first = cache.get({"template": "n", "locale": "en_GB"}, "txt")
    assert cache.get({"template": "n", "locale": "en_US"}, "txt") is first


def test_autoescape_in_html_but_not_in_text(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"a.html.j2": "{{ v }}", "a.txt.j2": "{{ v }}"})
    env = make_environment(root)
    assert env.get_template("a.html.j2").render(v="<b>&") == "&lt;b&gt;&amp;"
    assert env.get_template("a.txt.j2").render(v="<b>&") == "<b>&"


def test_missing_field_names_template_line_field_and_customer(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"email/de/vip.html.j2": "Hallo\n\n{{ first_name }}\n"})
    env = make_environment(root)
    template = load_template(env, ["email/de/vip.html.j2"])
    with pytest.raises(TemplateError) as info:
        render(template, {"customer_id": "C000123", "last_name": "Müller"})
    message = str(info.value)
    assert message.startswith("templates/email/de/vip.html.j2 line 3: 'first_name' is undefined")
    assert "customer C000123" in message
    assert "default(" in message
    assert "Müller" not in message


def test_missing_field_inside_a_block_and_a_parent_is_located(tmp_path: Path) -> None:
    root = _templates(tmp_path, {
        "base.html.j2": "<p>\n{% block b %}{% endblock %}\n{{ footer_text }}</p>",
        "child.html.j2": '{% extends "base.html.j2" %}{% block b %}ok{% endblock %}',
        "t.txt.j2": "{% block subject %}\n\n{{ offer.name }}{% endblock %}",
    })
    env = make_environment(root)
    with pytest.raises(TemplateError, match=r"base\.html\.j2 line 3 .*child\.html\.j2.*C9"):
        render(env.get_template("child.html.j2"), {"customer_id": "C9"})
    with pytest.raises(TemplateError, match=r"t\.txt\.j2 line 3: 'offer' is undefined"):
        render(env.get_template("t.txt.j2"), {"customer_id": "C9"}, block="subject")


def test_error_messages_do_not_repeat_customer_values(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"a.txt.j2": "{{ nicknames[first_name] }}",
                                 "b.txt.j2": "{{ first_name | attr(last_name) }}"})
    env = make_environment(root)
    for name in ("a.txt.j2", "b.txt.j2"):
        with pytest.raises(TemplateError) as info:
            render(env.get_template(name), {"customer_id": "C1", "first_name": "Jürgen",
                                            "last_name": "Weiß", "nicknames": {}})
        assert "Jürgen" not in str(info.value) and "Weiß" not in str(info.value)
        assert "customer C1" in str(info.value)


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ first_name.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% set x = [] %}{{ x.append(1) }}",
    "{{ 'a' * 100000000 }}",
])
def test_sandbox_violations_raise_template_error(tmp_path: Path, source: str) -> None:
    root = _templates(tmp_path, {"evil.txt.j2": source})
    env = make_environment(root)
    with pytest.raises(TemplateError, match=r"templates/evil\.txt\.j2 line 1: .*C7"):
        render(env.get_template("evil.txt.j2"), {"customer_id": "C7", "first_name": "x"})


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    root = _templates(tmp_path, {"email/en/bad.txt.j2": "line one\n{% if %}\n"})
    env = make_environment(root)
    with pytest.raises(TemplateError, match=r"templates/email/en/bad\.txt\.j2 line 2: syntax"):
        load_template(env, ["email/en/bad.txt.j2"])


def test_missing_template_lists_where_it_looked(tmp_path: Path) -> None:
    env = make_environment(_templates(tmp_path, {}))
    cache = TemplateCache(env, "letter")
    with pytest.raises(TemplateError, match=r"letter/de/nope\.html\.j2, templates/letter/nope"):
        cache.get({"template": "nope", "locale": "de_DE", "customer_id": "C1"}, "html")
    with pytest.raises(TemplateError, match="customer C1 has no letter template"):
        cache.get({"customer_id": "C1"}, "html")


@pytest.mark.parametrize(("lang", "fields", "expected"), [
    ("de", {"salutation": "Frau", "last_name": "Müller"}, "Sehr geehrte Frau Müller,"),
    ("de", {"salutation": "Herr", "last_name": "Weiß"}, "Sehr geehrter Herr Weiß,"),
    ("de", {"salutation": "Herr"}, "Guten Tag,"),
    ("de", {"last_name": "Weiß"}, "Guten Tag,"),
    ("de", {"salutation": "Mx", "last_name": "Weiß"}, "Guten Tag,"),
    ("en", {"salutation": "Ms", "last_name": "Smith"}, "Dear Ms Smith,"),
    ("en", {"salutation": "Herr", "last_name": "Smith"}, "Dear Mr Smith,"),
    ("en", {"salutation": "Mx", "last_name": "Smith"}, "Dear Mx Smith,"),
    ("en", {}, "Dear customer,"),
])
def test_greeting_macro_never_leaves_a_gap(lang: str, fields: dict[str, str],
                                           expected: str) -> None:
    source = ('{% import "macros.txt.j2" as m %}'
              "{{ m.greeting(lang, salutation | default(''), last_name | default('')) }}")
    assert _render_string(source, lang=lang, **fields) == expected


def test_shared_macros_escape_in_html_and_stay_plain_in_text(tmp_path: Path) -> None:
    call = "{{ m.greeting('en', 'Ms', last_name) }}"
    root = _templates(tmp_path, {
        "macros.j2": (ROOT / "templates" / "macros.j2").read_text(encoding="utf-8"),
        "a.html.j2": '{% import "macros.html.j2" as m %}' + call,
        "a.txt.j2": '{% import "macros.txt.j2" as m %}' + call,
    })
    env = make_environment(root)
    name = "O'Brien <b>"
    assert env.get_template("a.html.j2").render(last_name=name) == \
        "Dear Ms O&#39;Brien &lt;b&gt;,"
    assert env.get_template("a.txt.j2").render(last_name=name) == "Dear Ms O'Brien <b>,"


_BIG = {
    "mul": "{{ 'x' * 100000000 }}",
    "percent_width": "{{ '%999999999d' % 1 }}",
    "concat": "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(40) %}"
              "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "plus": "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "replace": "{{ ('x' * 900000).replace('x', 'yyyyyyyyyy') }}",
    "replace_filter": "{{ ('x' * 900000) | replace('x', 'yyyyyyyyyy') }}",
    "center": "{{ 'x'.center(999999999) }}",
    "center_by_item": "{{ 'x'['center'](999999999) }}",
    "ljust": "{{ street.ljust(100000000) }}",
    "center_filter": "{{ 'x' | center(999999999) }}",
    "format_width": "{{ '{:>999999999}'.format(1) }}",
    "format_fields": "{{ ('{0}' * 1000).format('x' * 900000) }}",
    "format_filter": "{{ '%999999999d' | format(1) }}",
    "join": "{{ ('x' * 900000).join(range(1000) | map('string')) }}",
    "join_filter": "{{ range(10000) | map('string') | join('x' * 900000) }}",
    "indent": "{{ ('-\\n' * 400000) | indent(1000) }}",
    "expandtabs": "{{ ('\\t' * 900000).expandtabs(100) }}",
    # 1,000 chunks of 1,000 reach the output limit in milliseconds, well before the time limit
    # even on a loaded machine (one character at a time took over 2 s there).
    "output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(_BIG))
def test_every_way_of_building_a_huge_string_is_stopped(tmp_path: Path, name: str) -> None:
    env = make_environment(_templates(tmp_path, {f"t/{name}.txt.j2": _BIG[name]}))
    with pytest.raises(TemplateError) as caught:
        render(env.get_template(f"t/{name}.txt.j2"), {"customer_id": "C7", "street": "Weg 1"})
    message = str(caught.value)
    assert message.startswith(f"templates/t/{name}.txt.j2")
    assert "1,000,000 characters" in message or "width of a million" in message
    assert "C7" in message and "Weg" not in message


@pytest.mark.parametrize("body", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j.real + 1 %}"
    "{% endfor %}{% endfor %}",
])
def test_a_template_that_would_run_for_minutes_is_stopped(tmp_path: Path, body: str) -> None:
    env = make_environment(_templates(tmp_path, {"t/slow.txt.j2": body}))
    with pytest.raises(TemplateError, match=r"templates/t/slow.txt.j2 line 1: .*ran for over "
                                            r"2 seconds\) for customer C7"):
        render(env.get_template("t/slow.txt.j2"), {"customer_id": "C7"})


def test_with_the_alarm_handler_installed_once_each_render_is_still_stopped(
        tmp_path: Path) -> None:
    body = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    env = make_environment(_templates(tmp_path, {"t/slow.txt.j2": body, "t/ok.txt.j2": "ok"}))
    with alarm_handler():
        for _ in range(2):  # the handler stays for the next render
            with pytest.raises(TemplateError, match="ran for over 2 seconds"):
                render(env.get_template("t/slow.txt.j2"), {"customer_id": "C7"})
            assert render(env.get_template("t/ok.txt.j2"), {}) == "ok"


def test_normal_string_work_is_untouched(tmp_path: Path) -> None:
    body = ("{{ '%s-%05d' % (name, 42) }}|{{ name.center(12, '*') }}|{{ name ~ '!' }}|"
            "{{ ', '.join(['a', 'b']) }}|{{ '{} {}'.format(name, 1) }}|"
            "{{ 'ab' | replace('a', 'x') }}|{{ [1, 2] | join('+') }}|{{ 7 % 3 }}|{{ 1 + 2 }}")
    env = make_environment(_templates(tmp_path, {"t/ok.txt.j2": body}))
    assert render(env.get_template("t/ok.txt.j2"), {"name": "Anna"}) == (
        "Anna-00042|****Anna****|Anna!|a, b|Anna 1|xb|1+2|1|3")


def test_outside_the_main_thread_the_hooks_keep_the_time_limit(tmp_path: Path) -> None:
    body = ("{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j.real + 1 %}"
            "{% endfor %}{% endfor %}")
    env = make_environment(_templates(tmp_path, {"t/slow.txt.j2": body}))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(render, env.get_template("t/slow.txt.j2"), {"customer_id": "C7"})
        with pytest.raises(TemplateError, match="ran for over 2 seconds"):
            future.result()


_CUSTOMER = {"customer_id": "C7", "first_name": "Annegret", "last_name": "Quaddelmeier",
             "street": "Hauptstraße 17", "email": "annegret.q@example.de"}
_LEAKY = [
    "{{ street | date }}",
    "{{ street[:6] + 1 }}",
    "{{ {street[:6]: 1}[email[:7]] }}",
    "{{ {'k': 1}[last_name[2:9]] }}",
    "{{ (email[:9] ~ '')[street[:4]] }}",
    "{{ '%d' % street[:5] }}",
    "{{ [street[:7]] | sum }}",
    "{{ nothing[street[:6]] }}",
    "{{ street.split(' ')[0].foo }}",
    "{{ email[3:8] | attr(email[:4]) | string | upper + 1 }}",
    "{{ last_name[:6] | format(email[:5]) }}{{ x }}",
    "{{ range(street[:4]) }}",
    "{{ first_name[:6] | join(1) + 1 }}",
    "{{ (first_name[:5] ~ '%s%s') | format(1) }}",
    "{{ first_name[:4] is divisibleby 3 }}",
    "{{ {street[:8]: 1} | dictsort(by=email[:4]) }}",
    "{% include email[:6] %}",
    "{{ email[:5].__class__ }}",
]


@pytest.mark.parametrize("body", _LEAKY)
def test_error_messages_carry_no_part_of_a_customer_value(tmp_path: Path, body: str) -> None:
    env = make_environment(_templates(tmp_path, {"t/leak.txt.j2": body}))
    try:
        render(env.get_template("t/leak.txt.j2"), _CUSTOMER)
    except TemplateError as exc:
        message = str(exc)
    else:
        pytest.fail("every template here fails for this customer")
    assert "templates/t/leak.txt.j2" in message and "C7" in message
    fragments = {v[i:i + 4] for k, v in _CUSTOMER.items() if k != "customer_id"
                 for i in range(len(v) - 3)}
    assert not {f for f in fragments if f in message}, message
