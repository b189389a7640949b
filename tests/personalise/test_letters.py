"""render_letters: one merged DIN 5008 PDF, one page per letter, deterministic bytes."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from crmreport.errors import DataError, RenderError, TemplateError
from crmreport.personalise import LetterBatch, LetterSettings, make_environment, render_letters

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = LetterSettings(layout="din5008b", date=dt.date(2026, 3, 1),
                          return_address="Schöner Laden GmbH · Marktplatz 5 · 04109 Leipzig")
ANNA = {"customer_id": "C1", "salutation": "Frau", "first_name": "Anna", "last_name": "Müller",
        "street": "Hauptstraße 1", "postal_code": "01067", "city": "Dresden", "country": "DE",
        "locale": "de_DE", "template": "vip", "monetary": Decimal("1234.50"), "currency": "EUR"}
BEN = {"customer_id": "C2", "salutation": "Mr", "first_name": "Ben", "last_name": "Smith",
       "street": "1 High St", "postal_code": "SW1A 1AA", "city": "London", "country": "GB",
       "locale": "en_GB", "template": "winback", "coupon": "BACK-15"}
EVA = {"customer_id": "C3", "first_name": "Eva", "last_name": "Lang", "street": "Ring 2",
       "postal_code": "1010", "city": "Wien", "country": "AT", "locale": "de_AT",
       "template": "winback"}


def _build(tmp_path: Path, recipients: list[Mapping[str, Any]],
           settings: LetterSettings = SETTINGS, name: str = "letters.pdf"
           ) -> tuple[LetterBatch, Path]:
    out = tmp_path / name
    batch = render_letters(recipients, make_environment(ROOT / "templates"), settings, out)
    return batch, out


def _top_mm(reader: PdfReader, page: int, needle: str) -> float:
    """Distance of the first text run containing ``needle`` from the page's top edge, in mm."""
    found: list[float] = []
    sheet = reader.pages[page]
    height = float(sheet.mediabox.height)

    def visit(text: str, cm: list[float], tm: list[float], *_: Any) -> None:
        if needle in text and not found:
            found.append((height - (tm[5] * cm[3] + cm[5])) * 25.4 / 72)

    sheet.extract_text(visitor_text=visit)
    assert found, f"{needle!r} not on page {page}"
    return found[0]


def test_one_page_per_letter_with_names_and_postcodes(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [ANNA, BEN, EVA])
    assert (batch.count, batch.pages, batch.pages_per_letter) == (3, 3, 1)
    reader = PdfReader(out)
    assert len(reader.pages) == 3
    first, second, third = (page.extract_text() for page in reader.pages)
    assert "Frau Anna Müller" in first and "01067 Dresden" in first
    assert "Sehr geehrte Frau Müller," in first and "1.234,50" in first
    assert "Mr Ben Smith" in second and "Dear Mr Smith," in second and "BACK-15" in second
    assert "UNITED KINGDOM" in second and "DEUTSCHLAND" not in first
    assert "Guten Tag," in third and "ÖSTERREICH" in third and "01.03.2026" in third
    assert "Anna" not in second + third


def test_address_window_follows_din5008_form_b_and_a(tmp_path: Path) -> None:
    _, form_b = _build(tmp_path, [ANNA], name="b.pdf")
    settings_a = LetterSettings(layout="din5008a", return_address=SETTINGS.return_address,
                                date=SETTINGS.date)
    _, form_a = _build(tmp_path, [ANNA], settings=settings_a, name="a.pdf")
    top_b = _top_mm(PdfReader(form_b), 0, "Frau Anna Müller")
    top_a = _top_mm(PdfReader(form_a), 0, "Frau Anna Müller")
    # The address zone starts 17.7 mm into the 45 mm field (form B at 45 mm, A at 27 mm).
    assert 45 + 17.7 < top_b < 45 + 27
    assert 27 + 17.7 < top_a < 27 + 27
    assert top_b - top_a == pytest.approx(18, abs=0.2)
    return_line = _top_mm(PdfReader(form_b), 0, "Marktplatz 5")
    assert 45 < return_line < 45 + 17.7


def test_same_input_gives_the_same_pdf_bytes(tmp_path: Path) -> None:
    first, one = _build(tmp_path, [ANNA, BEN], name="one.pdf")
    second, two = _build(tmp_path, [ANNA, BEN], name="two.pdf")
    assert one.read_bytes() == two.read_bytes()
    assert first.hashes == second.hashes and set(first.hashes) == {"C1", "C2"}


def test_a_letter_that_runs_over_is_a_render_error(tmp_path: Path) -> None:
    long = {**BEN, "customer_id": "C9", "coupon": "VERY-LONG-CODE " * 900}
    with pytest.raises(RenderError, match=r"customer C9 \(templates/letter/en/winback"):
        _build(tmp_path, [ANNA, long, EVA])
    assert not (tmp_path / "letters.pdf").exists()


def test_recipients_without_postal_address_are_refused(tmp_path: Path) -> None:
    no_street = {k: v for k, v in ANNA.items() if k != "street"}
    with pytest.raises(DataError, match=r"customer C1 has no complete postal address.*street"):
        _build(tmp_path, [BEN, no_street])


def test_unknown_template_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"letter/de/welcome\.html\.j2"):
        _build(tmp_path, [{**ANNA, "template": "welcome"}])


def test_hostile_values_are_escaped_in_the_letter(tmp_path: Path) -> None:
    evil = {**ANNA, "last_name": "<b>Müller</b>", "company": "</style><p>x"}
    _, out = _build(tmp_path, [evil])
    text = PdfReader(out).pages[0].extract_text()
    assert "Sehr geehrte Frau <b>Müller</b>," in text and "</style><p>x" in text


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [])
    assert batch.count == 0 and not out.exists()


def test_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="din5008a, din5008b"):
        LetterSettings(layout="din5008c", return_address="x", date=dt.date(2026, 3, 1))


def test_a_single_letter_over_one_page_is_a_render_error(tmp_path: Path) -> None:
    # Alone, or with every other letter as long, a two-page letter has nothing to differ from.
    long = {**BEN, "customer_id": "C9", "coupon": "VERY-LONG-CODE " * 250}
    with pytest.raises(RenderError, match=r"customer C9 \(templates/letter/en/winback\.html\.j2\) "
                                          r"takes 2 pages; every letter must fit on one page"):
        _build(tmp_path, [long])
    with pytest.raises(RenderError, match=r"customer C9 .* takes 2 pages"):
        _build(tmp_path, [long, {**long, "customer_id": "C10"}])
    assert not (tmp_path / "letters.pdf").exists()


def test_an_address_the_window_would_clip_is_a_render_error(tmp_path: Path) -> None:
    wordy = {**ANNA, "customer_id": "C7", "country": "AT",
             "company": "Vereinigte Sanitär-, Heizungs- und Klimatechnik Handelsgesellschaft "
                        "für Mittel- und Ostdeutschland mbH & Co. KG Niederlassung Dresden"}
    with pytest.raises(RenderError, match=r"address for customer C7 \(templates/letter/de/vip"
                                          r"\.html\.j2\).*needs 7 lines.*at most 6 lines"):
        _build(tmp_path, [ANNA, wordy])
    assert not (tmp_path / "letters.pdf").exists()


def test_an_unbreakable_company_name_is_not_clipped_at_the_side(tmp_path: Path) -> None:
    solid = {**ANNA, "customer_id": "C8", "company": "X" * 160}
    with pytest.raises(RenderError, match=r"address for customer C8 .*shorten the company"):
        _build(tmp_path, [solid])


def test_a_six_line_address_fits_the_window(tmp_path: Path) -> None:
    full = {**ANNA, "country": "AT",
            "company": "Vereinigte Sanitär- und Heizungstechnik Handelsgesellschaft mbH"}
    batch, out = _build(tmp_path, [full])
    assert batch.pages_per_letter == 1
    text = PdfReader(out).pages[0].extract_text()
    assert "ÖSTERREICH" in text and "01067 Dresden" in text


def test_a_style_block_may_not_use_recipient_fields(tmp_path: Path) -> None:
    # The stylesheet is shared by all letters: a footer with a name would print the first
    # recipient's name on every letter.
    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    (root / "letter" / "de" / "own.html.j2").write_text(
        '{% extends "letter/base.html.j2" %}{% block lang %}de{% endblock %}'
        "{% block footer %}{{ last_name | css_string }}{% endblock %}"
        "{% block subject %}Hallo{% endblock %}{% block body %}<p>x</p>{% endblock %}",
        encoding="utf-8")
    own = [{**ANNA, "template": "own"}, {**ANNA, "customer_id": "C2", "template": "own",
                                          "last_name": "Schmidt"}]
    with pytest.raises(TemplateError, match=r"templates/letter/de/own\.html\.j2: the style "
                                            r"block .*only layout, return_address"):
        render_letters(own, make_environment(root), SETTINGS, tmp_path / "letters.pdf")
