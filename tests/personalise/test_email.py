"""render_emails: hand-assembled .eml files that standard parsers read as intended."""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import io
import itertools
import random
import re
import shutil
from collections.abc import Iterator, Mapping
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import crmreport.personalise.email
from crmreport.config.models import Sender
from crmreport.errors import ConfigError, DataError, TemplateError
from crmreport.personalise import EmailBatch, EmailSettings, make_environment, render_emails
from crmreport.personalise.email import ESP_COLUMNS, SCORE_COLUMNS
from crmreport.personalise.legal import merge_fields, objection_notice

ROOT = Path(__file__).resolve().parents[2]
NOTICE = "{{ objection_notice }}"
OK_HTML = "<p>ok</p><p>" + NOTICE + "</p>"
SETTINGS = EmailSettings(
    sender="Schöner Laden <news@shop.example>", reply_to="Service <service@shop.example>",
    unsubscribe_url="https://shop.example/unsubscribe?t={token}",
    unsubscribe_mailto="unsubscribe@shop.example", max_bytes=102_000,
    date=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), secret="k3y-0f-th3-t3st-shop-2026")
ANNA = {"customer_id": "C1", "email": "anna@example.de", "salutation": "Frau",
        "first_name": "Anna", "last_name": "Müller", "locale": "de_DE", "template": "vip",
        "monetary": Decimal("1234.50"), "currency": "EUR", "campaign": "spring-2026",
        "as_of": dt.date(2026, 3, 1)}
BEN = {"customer_id": "C2", "email": "ben@example.co.uk", "salutation": "Mr",
       "first_name": "Ben", "last_name": "Smith", "locale": "en_GB", "template": "winback",
       "coupon": "BACK-15-XYZ", "recency_days": 120}


def _build(tmp_path: Path, recipients: list[Mapping[str, Any]],
           settings: EmailSettings = SETTINGS, templates: Path = ROOT / "templates"
           ) -> tuple[EmailBatch, Path]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    batch = render_emails(recipients, make_environment(templates), settings, out)
    return batch, out


def _token(cid: str, secret: str = SETTINGS.secret) -> str:
    return hmac.new(secret.encode(), cid.encode(), hashlib.sha256).hexdigest()[:32]


def _header_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def _parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # The parser keeps the wire's CRLF line ends in decoded text.
    return (text.get_content().replace("\r\n", "\n"),
            html.get_content().replace("\r\n", "\n"))


def test_eml_is_multipart_alternative_with_text_then_html(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [ANNA, BEN])
    assert batch.count == 2 and batch.oversize == []
    message = _parse(out / "C1.eml")
    assert message.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    assert not message.defects and all(not p.defects for p in message.iter_parts())


def test_headers_decode_and_carry_unsubscribe(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [ANNA])
    raw = (out / "C1.eml").read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    message = _parse(out / "C1.eml")
    assert message["Subject"] == "Exklusiv für Sie: Ihr früher Zugang zur neuen Kollektion"
    assert message["To"].addresses[0].display_name == "Anna Müller"
    assert message["To"].addresses[0].addr_spec == "anna@example.de"
    assert message["From"].addresses[0].display_name == "Schöner Laden"
    assert message["Reply-To"].addresses[0].addr_spec == "service@shop.example"
    token = _token("C1")
    unsubscribe = message["List-Unsubscribe"]
    assert f"<https://shop.example/unsubscribe?t={token}>" in unsubscribe
    assert "<mailto:unsubscribe@shop.example?subject=unsubscribe>" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"].datetime == SETTINGS.date
    assert message["Message-ID"].endswith("@shop.example>")
    assert message["MIME-Version"] == "1.0"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"))


def test_bodies_are_personal_and_german(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [ANNA])
    text, html = _parts(_parse(out / "C1.eml"))
    assert text.startswith("Sehr geehrte Frau Müller,\n")
    assert "1.234,50\u00a0€" in text
    token = _token("C1")
    assert token in text and token in html
    assert "Sehr geehrte Frau Müller," in html
    # The CSS is inlined; only the @media rule stays in a <style> element.
    assert 'style="' in html and "border-bottom: 3px solid #1f4e79" in html
    assert ".card {" not in html and "@media" in html


def test_english_winback_uses_coupon_and_fallbacks(tmp_path: Path) -> None:
    plain = {k: v for k, v in BEN.items() if k not in ("salutation", "coupon")}
    _, out = _build(tmp_path, [BEN, {**plain, "customer_id": "C3"}])
    text, html = _parts(_parse(out / "C2.eml"))
    assert "Dear Mr Smith," in text and "BACK-15-XYZ" in text and "BACK-15-XYZ" in html
    assert _parse(out / "C2.eml")["Subject"] == "We miss you - here is 15% off your next order"
    text, _ = _parts(_parse(out / "C3.eml"))
    assert text.startswith("Dear customer,") and "Dear ," not in text
    assert "applied at checkout" in text


@pytest.mark.parametrize("template", ["vip", "winback", "welcome"])
@pytest.mark.parametrize("locale", ["de_AT", "en_GB"])
def test_every_template_renders_with_minimal_data(tmp_path: Path, template: str,
                                                  locale: str) -> None:
    bare = {"customer_id": "C5", "email": "x@example.org", "locale": locale,
            "template": template}
    batch, out = _build(tmp_path, [bare])
    text, html = _parts(_parse(out / "C5.eml"))
    greeting = "Guten Tag," if locale.startswith("de") else "Dear customer,"
    assert text.startswith(greeting) and greeting in html
    assert (out / "C5.eml").stat().st_size < 20_000 and batch.oversize == []


def test_header_injection_in_a_name_creates_no_header(tmp_path: Path) -> None:
    evil = {**BEN, "first_name": "Ben\r\nBcc: victim@example.com\r\nX-Evil: 1",
            "last_name": "Smith\nSubject: spam"}
    _, out = _build(tmp_path, [evil])
    message = _parse(out / "C2.eml")
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert len(message.get_all("Subject") or []) == 1
    assert "victim@example.com" in message["To"].addresses[0].display_name
    assert [a.addr_spec for a in message["To"].addresses] == ["ben@example.co.uk"]


def test_injection_through_the_address_is_quarantined(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [ANNA, {**BEN, "email": "ben@example.co.uk\r\nBcc: x@ex.com"}])
    assert batch.quarantined == {"C2": "invalid_address"} and batch.count == 1
    assert not (out / "C2.eml").exists() and (out / "C1.eml").exists()


@pytest.mark.parametrize("address", ['a"b@example.com', "jürgen@müller.de", "a@b@example.com",
                                     "x@" + "ü" * 300 + ".de", "@example.com", ""])
def test_hostile_addresses_are_quarantined_and_the_rest_built(tmp_path: Path,
                                                              address: str) -> None:
    batch, out = _build(tmp_path, [{**BEN, "email": address}, ANNA])
    assert batch.quarantined == {"C2": "invalid_address"}
    assert [p.name for p in out.iterdir()] == ["C1.eml"]


@pytest.mark.parametrize(("text", "sendable"), [
    ("ben@example.co.uk", "ben@example.co.uk"),
    ("ben@example.co.uk\n", "ben@example.co.uk"),  # "$" would let the LF through as is
    (" ben@example.co.uk\r\n", "ben@example.co.uk"),
    ("ben@example.co.uk\nBcc: x@ex.com", None),
    ("anna@müller.de", "anna@xn--mller-kva.de"),
    ("a" * 243 + "@example.de", "a" * 243 + "@example.de"),  # 254 characters
    ("a" * 244 + "@example.de", None),
])
def test_sendable_address_cleans_encodes_or_refuses(text: str, sendable: str | None) -> None:
    assert crmreport.personalise.email.sendable_address(text) == sendable


def test_an_internationalised_domain_is_written_in_ascii(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [{**ANNA, "email": "anna@müller.de"}])
    message = _parse(out / "C1.eml")
    assert message.defects == [] and message["To"].defects == ()
    assert [a.addr_spec for a in message["To"].addresses] == ["anna@xn--mller-kva.de"]


def test_html_part_escapes_markup_but_text_part_keeps_it(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [{**ANNA, "last_name": "<script>alert(1)</script>"}])
    text, html = _parts(_parse(out / "C1.eml"))
    assert "Frau <script>alert(1)</script>," in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_missing_field_is_a_template_error_with_location(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    (root / "email" / "de").mkdir(parents=True)
    (root / "email" / "de" / "t.txt.j2").write_text(
        "{% block subject %}Hallo{% endblock %}\n{% block body %}\nHallo\n{{ first_name }}\n"
        + NOTICE +
        "{% endblock %}", encoding="utf-8")
    (root / "email" / "de" / "t.html.j2").write_text(OK_HTML, encoding="utf-8")
    recipient = {"customer_id": "C000123", "email": "a@example.de", "locale": "de_DE",
                 "template": "t", "last_name": "Müller"}
    with pytest.raises(TemplateError) as info:
        _build(tmp_path, [recipient], templates=root)
    message = str(info.value)
    assert "templates/email/de/t.txt.j2 line 4: 'first_name' is undefined" in message
    assert "customer C000123" in message and "Müller" not in message


def test_sandbox_escape_in_a_template_is_a_template_error(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    (root / "email").mkdir(parents=True)
    (root / "email" / "t.txt.j2").write_text(
        "{% block subject %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endblock %}"
        "{% block body %}x " + NOTICE + "{% endblock %}", encoding="utf-8")
    (root / "email" / "t.html.j2").write_text(OK_HTML, encoding="utf-8")
    with pytest.raises(TemplateError, match=r"sandbox.*customer C1"):
        _build(tmp_path, [{"customer_id": "C1", "email": "a@example.de", "template": "t"}],
               templates=root)


def test_same_input_gives_byte_identical_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, out1 = _build(tmp_path / "a", [ANNA, BEN])
    second, out2 = _build(tmp_path / "b", [ANNA, BEN])
    assert first.hashes == second.hashes
    for name in ("C1.eml", "C2.eml"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    assert first.hashes["C1"] == hashlib.sha256((out1 / "C1.eml").read_bytes()).hexdigest()


def _esp(tmp_path: Path, recipients: list[Mapping[str, Any]],
         settings: EmailSettings = SETTINGS) -> list[list[str]]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    render_emails(recipients, make_environment(ROOT / "templates"), settings, out,
                  tmp_path / "esp.csv")
    with (tmp_path / "esp.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# An unusual dataset: fields in another order, extra columns, scores, a field only one has.
ODD = [{"churn_risk": 0.75, "zzz_extra": "x", "p_alive": 0.5, "clv_52w": Decimal("88.10"),
        "r_score": 5, "street": "Hauptstraße 1", **BEN, "customer_id": "C9"},
       {"template": "vip", "locale": "de_DE", "email": "anna@müller.de", "customer_id": "C1",
        "monetary": Decimal("-12.50"), "first_name": "=cmd"}]


def test_esp_csv_has_the_declared_columns_in_order_whatever_the_data(tmp_path: Path) -> None:
    rows = _esp(tmp_path, ODD)
    assert tuple(rows[0]) == ESP_COLUMNS
    assert rows[0][:5] == ["customer_id", "email", "salutation", "first_name", "last_name"]
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert list(by_id) == ["C9", "C1"]
    # No scores, no address, nothing the data adds beyond the declared columns.
    assert not {"churn_risk", "p_alive", "clv_52w", "r_score", "street", "zzz_extra",
                "monetary"} & set(rows[0])
    assert by_id["C1"]["email"] == "anna@xn--mller-kva.de"  # as the To header carries it
    assert by_id["C1"]["first_name"] == "'=cmd" and by_id["C1"]["coupon"] == ""
    assert by_id["C9"]["coupon"] == "BACK-15-XYZ"
    assert by_id["C9"]["subject"].startswith("We miss you")
    assert by_id["C9"]["unsubscribe_url"] == (
        f"https://shop.example/unsubscribe?t={_token('C9')}")
    assert by_id["C9"]["message_id"].endswith("@shop.example>")


def test_esp_csv_carries_scores_only_when_the_campaign_asks(tmp_path: Path) -> None:
    rows = _esp(tmp_path, ODD, EmailSettings(**{**SETTINGS.__dict__, "export_scores": True}))
    assert tuple(rows[0]) == ESP_COLUMNS + SCORE_COLUMNS
    c9 = dict(zip(rows[0], rows[1], strict=True))
    assert (c9["churn_risk"], c9["p_alive"], c9["clv_52w"], c9["r_score"]) == (
        "0.75", "0.5", "88.10", "5")
    assert c9["m_score"] == "" and c9["rfm_segment"] == ""


def test_esp_csv_of_no_emails_is_its_header(tmp_path: Path) -> None:
    assert _esp(tmp_path, []) == [list(ESP_COLUMNS)]


def test_oversize_emails_are_reported(tmp_path: Path) -> None:
    small = EmailSettings(**{**SETTINGS.__dict__, "max_bytes": 1000})
    batch, out = _build(tmp_path, [ANNA], settings=small)
    assert batch.oversize == ["C1"] and (out / "C1.eml").exists()


def test_duplicate_customer_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="appears twice"):
        _build(tmp_path, [ANNA, ANNA])


def test_ids_sharing_a_file_name_get_distinct_files(tmp_path: Path) -> None:
    ids = ["a_b", "a/b", "a:b"]
    batch, out = _build(tmp_path, [{**ANNA, "customer_id": c} for c in ids])
    names = sorted(p.name for p in out.iterdir())
    assert batch.count == 3 and len(names) == 3 and "a_b.eml" in names
    assert len({str(_parse(out / n)["List-Unsubscribe"]) for n in names}) == 3


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="unsubscribe_url"):
        EmailSettings(**{**SETTINGS.__dict__, "unsubscribe_url": "http://x.example/u"})


def test_unsubscribe_token_is_an_hmac_only_the_secret_holder_can_make(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [ANNA])
    message = _parse(out / "C1.eml")
    token = _token("C1")
    assert len(token) == 32 and f"t={token}>" in message["List-Unsubscribe"]
    # Not the old sha256("<public control-group seed>:<customer id>") a reader could compute.
    assert hashlib.sha256(b"spring-2026:C1").hexdigest()[:20] not in message["List-Unsubscribe"]
    # Neither the Message-ID nor the boundary gives the token away.
    boundary = message.get_boundary()
    assert boundary is not None and token[:8] not in boundary
    assert token[:8] not in message["Message-ID"]
    other = EmailSettings(**{**SETTINGS.__dict__, "secret": "another-secret-0123456789"})
    (tmp_path / "other").mkdir()
    _, out2 = _build(tmp_path / "other", [ANNA], settings=other)
    moved = _parse(out2 / "C1.eml")["List-Unsubscribe"]
    assert token not in moved and _token("C1", other.secret) in moved
    assert "k3y-0f" not in repr(SETTINGS)


@pytest.mark.parametrize("secret", ["", "   ", "too-short-15chr"])
def test_an_empty_or_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"CRMREPORT_SECRET.*set CRMREPORT_SECRET to a long "
                                          r"random string; it keeps unsubscribe links from "
                                          r"being forged"):
        EmailSettings(**{**SETTINGS.__dict__, "secret": secret})


def test_long_display_names_are_capped_and_every_header_line_folded(tmp_path: Path) -> None:
    long_ascii = {**BEN, "customer_id": "C4", "first_name": "Alexander " * 120,
                  "last_name": "Smith"}
    solid = {**BEN, "customer_id": "C5", "first_name": "X" * 1500}
    quoted = {**BEN, "customer_id": "C6", "first_name": 'Ben "the (shop) fan", ' * 20}
    german = {**ANNA, "customer_id": "C7", "first_name": "Jürgen-Maximilian " * 30}
    long_local = {**BEN, "customer_id": "C8", "email": "a" * 64 + "@" + "mail." * 12 + "example"}
    _, out = _build(tmp_path, [long_ascii, solid, quoted, german, long_local])
    for cid in ("C4", "C5", "C6", "C7", "C8"):
        lines = _header_lines(out / f"{cid}.eml")
        assert all(len(line) <= 998 for line in lines)
        message = _parse(out / f"{cid}.eml")
        assert not message.defects
        to = message["To"].addresses[0]
        assert len(to.display_name) <= 64
    assert all(len(line) <= 78 for cid in ("C4", "C5", "C6", "C7")
               for line in _header_lines(out / f"{cid}.eml"))
    # An address too long for one line gets a line of its own: nothing left to fold.
    too_long = [line for line in _header_lines(out / "C8.eml") if len(line) > 78]
    assert too_long == [f" <{long_local['email']}>".encode()]
    names = {cid: _parse(out / f"{cid}.eml")["To"].addresses[0].display_name
             for cid in ("C4", "C5", "C6", "C7")}
    assert names["C4"] == ("Alexander " * 6).strip()  # cut at a word boundary
    assert names["C5"] == "X" * 64
    assert names["C6"].startswith('Ben "the (shop) fan", Ben')
    assert names["C7"].startswith("Jürgen-Maximilian Jürgen") and "  " not in names["C7"]
    assert _parse(out / "C8.eml")["To"].addresses[0].addr_spec == long_local["email"]


def test_a_long_unbreakable_subject_is_folded(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    (root / "email").mkdir(parents=True)
    (root / "email" / "t.txt.j2").write_text(
        "{% block subject %}Hello {{ first_name }}{% endblock %}{% block body %}x "
        + NOTICE + "{% endblock %}",
        encoding="utf-8")
    (root / "email" / "t.html.j2").write_text(OK_HTML, encoding="utf-8")
    recipient = {"customer_id": "C1", "email": "a@example.de", "template": "t",
                 "first_name": "Y" * 2000}
    _, out = _build(tmp_path, [recipient], templates=root)
    assert all(len(line) <= 78 for line in _header_lines(out / "C1.eml"))
    assert _parse(out / "C1.eml")["Subject"] == "Hello " + "Y" * 2000


def test_an_address_over_254_characters_is_quarantined(tmp_path: Path) -> None:
    batch, _ = _build(tmp_path, [{**BEN, "email": "b" * 250 + "@example.com"}])
    assert batch.quarantined == {"C2": "invalid_address"}


def _own_templates(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "templates"
    (root / "email").mkdir(parents=True)
    (root / "email" / "t.txt.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block body %}" + body + NOTICE + "{% endblock %}",
        encoding="utf-8")
    (root / "email" / "t.html.j2").write_text(OK_HTML, encoding="utf-8")
    return root


def test_a_recipient_the_template_fails_is_set_aside(tmp_path: Path) -> None:
    root = _own_templates(tmp_path, "{{ first_name }} {{ street.center(width) }}")
    people = [{"customer_id": f"C{i}", "email": f"p{i}@example.de", "template": "t",
               "first_name": "Zoltan", "street": "Hauptstraße 9", "width": 10} for i in range(3)]
    del people[1]["first_name"]
    people[2]["width"] = 10**9  # the size limit, hit for this customer only
    batch, out = _build(tmp_path, people, templates=root)
    assert batch.quarantined == {"C1": "template_failed", "C2": "template_failed"}
    assert sorted(p.name for p in out.iterdir()) == ["C0.eml"]
    assert "'first_name' is undefined for customer C1" in batch.errors["C1"]
    assert "1,000,000 characters" in batch.errors["C2"]
    assert not any("Hauptstr" in e or "Zoltan" in e for e in batch.errors.values())


def test_a_template_that_fails_everyone_stops_the_build(tmp_path: Path) -> None:
    root = _own_templates(tmp_path, "{{ missing }}")
    people = [{"customer_id": f"C{i:03}", "email": f"p{i}@example.de", "template": "t"}
              for i in range(500)]
    seen: list[str] = []

    def counted() -> Iterator[dict[str, str]]:
        for person in people:
            seen.append(person["customer_id"])
            yield person

    with pytest.raises(TemplateError, match="'missing' is undefined for customer C000"):
        _build(tmp_path, counted(), templates=root)  # type: ignore[arg-type]
    assert len(seen) == 10  # stopped at the tenth failure, not after trying everyone
    seen.clear()  # the same when workers were started for the many recipients announced
    (tmp_path / "out2").mkdir()
    with pytest.raises(TemplateError, match="'missing' is undefined for customer C000"):
        render_emails(counted(), make_environment(root), SETTINGS, tmp_path / "out2",
                      workers=2, expected=len(people) * 10)
    assert len(seen) == 10


SENDER = Sender(company="Demo Shop GmbH", street="Beispielweg 1", postal_code="01067",
                city="Dresden", register="Amtsgericht Dresden, HRB 1",
                email="datenschutz@shop.example")


@pytest.mark.parametrize("template", ["vip", "winback", "welcome"])
@pytest.mark.parametrize("locale", ["de_DE", "en_GB"])
def test_demo_templates_show_objection_notice_and_imprint_in_both_parts(
        tmp_path: Path, template: str, locale: str) -> None:
    fields = merge_fields(SENDER, locale)
    _, out = _build(tmp_path, [{"customer_id": "C5", "email": "x@example.org",
                                "locale": locale, "template": template, **fields}])
    message = _parse(out / "C5.eml")
    assert not message.defects and all(not p.defects for p in message.iter_parts())
    text, html = _parts(message)
    notice = objection_notice(SENDER, locale)
    assert "datenschutz@shop.example" in notice
    for part in (text, html):
        assert notice in " ".join(part.split())
        assert "Amtsgericht Dresden, HRB 1" in part and "Beispielweg 1, 01067 Dresden" in part
    assert ("Deutschland" if locale == "de_DE" else "Germany") in text


def test_without_the_sender_block_the_notice_is_still_shown(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [BEN])
    text, html = _parts(_parse(out / "C2.eml"))
    assert "You may object to the use of your data for advertising" in text
    assert "You may object to the use of your data for advertising" in html


@pytest.mark.parametrize("part", ["txt", "html"])
def test_a_template_without_the_objection_notice_stops_the_build(tmp_path: Path,
                                                                part: str) -> None:
    root = _own_templates(tmp_path, "x")
    if part == "html":
        (root / "email" / "t.html.j2").write_text("<p>ok</p>", encoding="utf-8")
    else:
        (root / "email" / "t.txt.j2").write_text(
            "{% block subject %}Hi{% endblock %}{% block body %}x{% endblock %}")
    with pytest.raises(TemplateError) as info:
        _build(tmp_path, [{"customer_id": "C1", "email": "a@example.de", "template": "t"}],
               templates=root)
    assert str(info.value) == (
        f"templates/email/t.{part}.j2: the objection notice is missing (first for customer "
        "C1); every marketing email must show it: add {{ objection_notice }} to the "
        "template's footer")
    assert not (tmp_path / "out" / "C1.eml").exists()


def test_each_recipients_own_notice_is_looked_for_in_a_shared_shape(tmp_path: Path) -> None:
    """A template that writes the notice out rather than showing the field: a recipient
    with a notice of their own shares the others' shape, but not their check."""
    root = _own_templates(tmp_path, "{{ first_name }} " + objection_notice(None, "de_DE"))
    (root / "email" / "t.html.j2").write_text(
        f"<p>{{{{ first_name }}}}</p><p>{objection_notice(None, 'de_DE')}</p>",
        encoding="utf-8")
    people = [{"customer_id": f"C{i}", "email": f"p{i}@example.de", "template": "t",
               "first_name": f"N{i}", "locale": "de_DE"} for i in range(4)]
    people[3]["objection_notice"] = "Schreiben Sie uns, wenn Sie keine Werbung wünschen."
    with pytest.raises(TemplateError, match="objection notice is missing \\(first for customer "
                                            "C3\\)"):
        _build(tmp_path, people, templates=root)


@pytest.mark.parametrize(("locale", "expected"), [("de_DE", "Gültig bis einschließlich "
                                                   "31. März 2026."),
                                                  ("en_GB", "Valid until 31 March 2026.")])
def test_coupon_validity_is_shown_in_the_recipients_date_format(
        tmp_path: Path, locale: str, expected: str) -> None:
    ben = {**BEN, "locale": locale, "coupon_valid_until": dt.date(2026, 3, 31)}
    _, out = _build(tmp_path, [ben])
    text, html = _parts(_parse(out / "C2.eml"))
    assert expected in text and expected in html


def test_a_customer_without_locale_gets_the_campaign_language(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    bare = {"customer_id": "C5", "email": "x@example.org", "template": "vip"}
    render_emails([bare], make_environment(ROOT / "templates", "en_GB"), SETTINGS,
                  tmp_path / "out")
    message = _parse(tmp_path / "out" / "C5.eml")
    assert message["Subject"] == "Just for you: early access to our new collection"
    assert "You may object" in _parts(message)[0]


def _people(count: int) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = [
        {**(ANNA if i % 2 else BEN), "customer_id": f"C{i:03}", "email": f"p{i}@example.de"}
        for i in range(count)]
    people[7]["email"] = "bad\r\naddress@example.de"  # set aside by the parent
    people[11]["template"] = "huge"  # fails in a worker, for this customer only
    people[4]["customer_id"], people[5]["customer_id"] = "a/b", "a_b"  # one file name
    return people


@pytest.mark.parametrize("counted", [True, False], ids=["workers-start-first", "after-head"])
def test_worker_processes_write_the_same_bytes_and_records_as_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: bool) -> None:
    """Recipients of a known number (a list) start the workers before the first emails are
    built here; a stream of unknown length starts them after."""
    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    (root / "email" / "huge.txt.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block body %}{{ 'x' * width }}" + NOTICE
        + "{% endblock %}", encoding="utf-8")
    (root / "email" / "huge.html.j2").write_text(OK_HTML, encoding="utf-8")
    people = _people(23)
    for person in people:
        person["width"] = 10**9 if person["template"] == "huge" else 1
    people[12] |= {"template": "huge", "width": 3}  # the template works for others
    monkeypatch.setattr("crmreport.personalise.email.PARALLEL_FROM", 5)
    monkeypatch.setattr("crmreport.personalise.email.BATCH", 3)
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        batch = render_emails(people if counted else iter(people), make_environment(root),
                              SETTINGS, out, tmp_path / f"esp{workers}.csv", workers=workers)
        files = {p.name: p.read_bytes() for p in out.iterdir()}
        results[workers] = (batch, files, (tmp_path / f"esp{workers}.csv").read_bytes())
    (one, one_files, one_esp), (two, two_files, two_esp) = results[1], results[2]
    assert one_files == two_files and one_esp == two_esp
    assert (one.count, one.hashes, one.quarantined, one.errors, one.oversize) == (
        two.count, two.hashes, two.quarantined, two.errors, two.oversize)
    assert two.quarantined == {"C007": "invalid_address", "C011": "template_failed"}
    assert "1,000,000 characters" in two.errors["C011"]
    assert two.count == 21 and len(two_files) == 21 and "a_b.eml" in two_files
    assert [row.split(",")[0] for row in two_esp.decode().splitlines()[1:]] == [
        p["customer_id"] for p in people if p["customer_id"] not in ("C007", "C011")]
    for name, data in two_files.items():
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert not message.defects and all(not p.defects for p in message.iter_parts()), name
        assert hashlib.sha256(data).hexdigest() in two.hashes.values()


def test_batches_built_here_and_in_a_worker_are_recorded_in_recipient_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process builds every other batch (as it does when the workers have enough to
    do): the same files, esp.csv and records as one process building them all."""
    people = _people(23)
    people[11]["template"] = "vip"  # no template of its own here
    monkeypatch.setattr("crmreport.personalise.email.PARALLEL_FROM", 5)
    monkeypatch.setattr("crmreport.personalise.email.BATCH", 3)
    turns = itertools.cycle([True, False])
    monkeypatch.setattr("crmreport.personalise.email._workers_have_enough",
                        lambda pending, workers: next(turns))
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        batch = render_emails(people, make_environment(ROOT / "templates"), SETTINGS, out,
                              tmp_path / f"esp{workers}.csv", workers=workers)
        results[workers] = (batch.count, batch.hashes, batch.quarantined, batch.oversize,
                            {p.name: p.read_bytes() for p in out.iterdir()},
                            (tmp_path / f"esp{workers}.csv").read_bytes())
    assert results[1] == results[2]
    assert results[2][0] == 22 and list(results[2][2]) == ["C007"]


@pytest.mark.parametrize("here", [False, True], ids=["in-a-worker", "here"])
def test_a_template_error_in_a_worker_stops_the_build(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     here: bool) -> None:
    people = [{**BEN, "customer_id": f"C{i}", "email": f"p{i}@example.de"} for i in range(9)]
    people[8]["template"] = "missing"
    monkeypatch.setattr("crmreport.personalise.email.PARALLEL_FROM", 3)
    monkeypatch.setattr("crmreport.personalise.email.BATCH", 2)
    monkeypatch.setattr("crmreport.personalise.email._workers_have_enough",
                        lambda pending, workers: here)
    (tmp_path / "out").mkdir()
    with pytest.raises(TemplateError, match=re.escape(
            "template not found: looked for templates/email/en/missing.txt.j2")):
        render_emails(people, make_environment(ROOT / "templates"), SETTINGS,
                      tmp_path / "out", workers=2)


def test_layouts_inlined_once_give_the_bytes_inlining_each_email_whole_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every demo template, merge values with quotes, ampersands, entities, markup and
    no-break spaces: the same files whether CSS is inlined per layout or per email."""
    names = ['Zoë "Z"', "O'Neill & Söhne", "&amp; &euro;", "<b>Ben</b>", "Anna\xa0Maria",
             " Leading", "Ünal", "x&lt", "Øster;gaard"]
    people = [{**(ANNA if i % 2 else BEN), "customer_id": f"C{i:03}",
               "email": f"p{i}@example.de", "template": ("vip", "winback", "welcome")[i % 3],
               "last_name": names[i % len(names)], "first_name": names[(i * 5) % len(names)],
               "coupon": names[(i * 7) % len(names)], "salutation": ("Frau", "Mr", "")[i % 3]}
              for i in range(60)]
    inlined: list[str] = []
    whole = crmreport.personalise.email._inline
    monkeypatch.setattr("crmreport.personalise.email._inline",
                        lambda *args: inlined.append(args[1]) or whole(*args))
    files, calls = [], []
    for layouts in (64, 0):  # 0: no layout or shape kept, every email inlined whole
        monkeypatch.setattr("crmreport.personalise.styles.MAX_LAYOUTS", layouts)
        monkeypatch.setattr("crmreport.personalise.email.MAX_SHAPES", layouts)
        (tmp_path / f"layouts{layouts}").mkdir()
        _, out = _build(tmp_path / f"layouts{layouts}", people)
        files.append({p.name: p.read_bytes() for p in out.iterdir()})
        calls.append(len(inlined))
        inlined.clear()
    assert len(files[0]) == 60 and files[0] == files[1]
    assert calls[1] == 60 and calls[0] < 40  # the layouts were used: fewer inliner calls


# text, and whether it may go as it is: RFC 5322 allows 998 octets a line (CRLF not counted).
PARTS = [("Grüße\nzweite Zeile\n", True), ("x" * 998, True), ("x" * 999, False),
         ("€" * 332 + "\nkurz", True), ("kurz\n" + "€" * 333, False),  # 996 and 999 octets
         ("a\rb", False), ("a\r\nb\n", False), ("nul\x00", False), ("", True)]


@pytest.mark.parametrize(("text", "as_is"), PARTS)
def test_a_part_goes_as_it_is_only_when_its_lines_fit(text: str, as_is: bool) -> None:
    """8bit where every line is within 998 octets and no CR or NUL, else quoted-printable;
    either way the standard library reads back the text (line ends as LF)."""
    module = crmreport.personalise.email
    boundary = "=_crm_0123456789abcdef01234567"
    body = module._body(text.encode(), None, None, boundary)
    assert body[0] == ("8bit" if as_is else "quoted-printable")
    data = module._assemble("Subject: x\r\n", boundary, *body, *body)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert not message.defects and all(not part.defects for part in message.walk())
    assert isinstance(message, EmailMessage)
    part = message.get_body(("plain",))
    assert part is not None and part["Content-Transfer-Encoding"] == body[0]
    wanted = text.replace("\r\n", "\n").replace("\r", "\n")
    assert str(part.get_content()).replace("\r\n", "\n") == wanted
    if as_is:
        assert all(len(line) <= 998 for line in body[1].split(b"\r\n"))


def test_a_body_holding_the_boundary_is_encoded() -> None:
    boundary = "=_crm_0123456789abcdef01234567"
    text = f"a\n--{boundary}--\nb"
    kind, body = crmreport.personalise.email._body(text.encode(), None, 10, boundary)
    assert kind == "quoted-printable" and boundary.encode() not in body


def test_esp_rows_are_written_as_the_csv_writer_writes_them() -> None:
    """Rows with nothing to quote take the short way, the rest the csv writer: the same
    text either way, in order (random cells of commas, quotes, CR, LF, spaces, empties)."""
    module = crmreport.personalise.email
    rng = random.Random(3)
    edgy = ["", "a", "Ö", ",", '"', "\r", "\n", " ", "'", "=", "\t", "\x00"]
    rows = [[""], [], ["", ""], ["a"], [","]] + [
        ["".join(rng.choices(edgy, k=rng.randrange(3))) for _ in range(rng.randrange(1, 5))]
        for _ in range(20_000)]
    fast, plain = io.StringIO(), io.StringIO()
    write_row, writerow = module._row_writer(fast), module._csv_writer(plain).writerow
    for row in rows:
        write_row(row)
        writerow(row)
    assert fast.getvalue() == plain.getvalue()


def test_an_esp_row_has_the_cells_of_each_value_made_safe_in_column_order() -> None:
    """The row function written for the columns gives what reading each column (the email's
    own values in theirs) and making it a safe cell gives: random recipients of formula
    starts, quotes, empty and missing fields, dates, times, numbers, None and booleans."""
    module = crmreport.personalise.email
    rng = random.Random(5)
    kinds = ["", "a", "=1+1", "+49", "-3", "@x", "\tt", "\rr", "'q", "Ö,\"",
             dt.date(2026, 3, 31), dt.datetime(2026, 3, 31, 8), Decimal("-9.50"), -2, 0.5,
             None, True]
    texts = [kind for kind in kinds if isinstance(kind, str)]  # an email's own values
    for columns in (ESP_COLUMNS, ESP_COLUMNS + SCORE_COLUMNS):
        row_of = module._row_function(columns)
        for _ in range(3_000):
            recipient = {column: rng.choice(kinds) for column in columns if rng.random() < 0.8}
            own = dict(zip(module._OWN_COLUMNS, rng.choices(texts, k=4), strict=True))
            wanted = [module._cell(own.get(column, recipient.get(column, "")))
                      for column in columns]
            assert row_of(recipient.get, *own.values()) == wanted


def test_a_free_body_goes_by_its_longest_line_alone() -> None:
    """``free`` (the shape knows the part holds no CR, NUL or boundary): a longest line
    within 998 octets sends it as it is unread; else it is looked at as any body is. For a
    body that is free, the same result as without ``free``."""
    body = crmreport.personalise.email._body
    boundary = "=_crm_0123456789abcdef01234567"
    unread = f"a\n--{boundary}\n\x00".encode()  # what free=True vouches is not there
    assert body(unread, None, 10, boundary, free=True) == ("8bit", unread.replace(b"\n", b"\r\n"))
    assert body(unread, None, None, boundary, free=True)[0] == "quoted-printable"
    assert body(unread, None, 999, boundary, free=True)[0] == "quoted-printable"
    assert body(b"short", None, 5_000, boundary, free=True) == ("8bit", b"short")
    assert body(b"y" * 999, lambda: b"ENCODED", 999, boundary, free=True) == (
        "quoted-printable", b"ENCODED")
    rng = random.Random(23)
    alphabet = ["a", "€", " ", "\n", "=", "_", "x" * 300, "ü" * 150, "=_crm_"]
    for _ in range(3_000):
        data = "".join(rng.choices(alphabet, k=rng.randrange(12))).encode()
        longest = max(map(len, data.split(b"\n"))) + rng.choice([0, 0, 1, 500])
        for known in (longest, None):
            assert body(data, None, known, boundary, free=True) == \
                body(data, None, known, boundary), (data, known)
