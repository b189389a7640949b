"""render_letters: one merged DIN 5008 PDF, one page per letter, deterministic bytes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup
from pypdf import PdfReader

from crmreport.config.models import Sender
from crmreport.errors import DataError, RenderError, TemplateError
from crmreport.personalise import LetterBatch, LetterSettings, make_environment, render_letters
from crmreport.personalise.letters import postal_lines

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


def _texts(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_one_page_per_letter_in_print_order_with_names_and_postcodes(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [ANNA, BEN, EVA])
    assert (batch.count, batch.pages, batch.pages_per_letter) == (3, 3, 1)
    # The print house's presort: country, then postcode: AT, DE, GB.
    assert batch.printed == [(1, "C3"), (2, "C1"), (3, "C2")]
    austria, germany, britain = _texts(out)
    assert "Frau Anna Müller" in germany and "01067 Dresden" in germany
    assert "Sehr geehrte Frau Müller," in germany and "1.234,50" in germany
    assert "Mr Ben Smith" in britain and "Dear Mr Smith," in britain and "BACK-15" in britain
    assert "UNITED KINGDOM" in britain and "DEUTSCHLAND" not in germany
    assert "Guten Tag," in austria and "ÖSTERREICH" in austria and "01.03.2026" in austria
    assert "Anna" not in britain + austria
    for seq, text in enumerate((austria, germany, britain), start=1):
        assert f"{seq:06d}" in text


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


def test_a_letter_that_runs_over_is_set_aside_and_the_others_printed(tmp_path: Path) -> None:
    long = {**BEN, "customer_id": "C9", "postal_code": "AB1 1AA",
            "coupon": "VERY-LONG-CODE " * 250}
    batch, out = _build(tmp_path, [ANNA, long, EVA, BEN])
    assert batch.quarantined == {"C9": "letter_too_long"}
    assert batch.errors["C9"] == ("the letter for customer C9 (templates/letter/en/winback"
                                  ".html.j2) takes 2 pages; every letter must fit on one page: "
                                  "shorten the text or the fields it prints")
    # Its number stays unused: the printed letters keep theirs, as print.csv lists them.
    assert batch.printed == [(1, "C3"), (2, "C1"), (4, "C2")]
    assert set(batch.hashes) == {"C1", "C2", "C3"}
    texts = _texts(out)
    assert len(texts) == 3 and "000004" in texts[2] and "Smith" in texts[2]
    assert "VERY-LONG" not in batch.errors["C9"]


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


def test_a_template_no_letter_of_fits_stops_with_its_first_error(tmp_path: Path) -> None:
    # Alone, or with every other letter as long, a two-page letter has nothing to differ from.
    long = {**BEN, "customer_id": "C9", "coupon": "VERY-LONG-CODE " * 250}
    with pytest.raises(RenderError, match=r"customer C9 \(templates/letter/en/winback\.html\.j2\) "
                                          r"takes 2 pages; every letter must fit on one page"):
        _build(tmp_path, [long])
    with pytest.raises(RenderError, match=r"customer C10 .* takes 2 pages"):
        _build(tmp_path, [long, {**long, "customer_id": "C10"}])
    assert not (tmp_path / "letters.pdf").exists()
    assert not list(tmp_path.iterdir())  # nor any temporary file


def test_an_address_the_window_would_clip_is_set_aside(tmp_path: Path) -> None:
    wordy = {**ANNA, "customer_id": "C7", "country": "AT",
             "company": "Vereinigte Sanitär-, Heizungs- und Klimatechnik Handelsgesellschaft "
                        "für Mittel- und Ostdeutschland mbH & Co. KG Niederlassung Dresden"}
    batch, out = _build(tmp_path, [ANNA, wordy])
    assert batch.quarantined == {"C7": "address_clipped"}
    assert re.fullmatch(r"the address for customer C7 \(templates/letter/de/vip\.html\.j2\) "
                        r"does not fit the envelope window: it needs 7 lines .*at most 6 lines",
                        batch.errors["C7"])
    assert batch.printed == [(2, "C1")] and len(PdfReader(out).pages) == 1


def test_an_unbreakable_company_name_is_not_clipped_at_the_side(tmp_path: Path) -> None:
    solid = {**ANNA, "customer_id": "C8", "company": "X" * 160}
    batch, _ = _build(tmp_path, [ANNA, solid])
    assert batch.quarantined == {"C8": "address_clipped"}
    assert "shorten the company" in batch.errors["C8"]


def test_a_six_line_address_fits_the_window(tmp_path: Path) -> None:
    full = {**ANNA, "country": "AT",
            "company": "Vereinigte Sanitär- und Heizungstechnik Handelsgesellschaft mbH"}
    batch, out = _build(tmp_path, [full])
    assert batch.pages_per_letter == 1 and not batch.quarantined
    text = PdfReader(out).pages[0].extract_text()
    assert "ÖSTERREICH" in text and "01067 DRESDEN" in text


def test_a_template_failing_for_one_recipient_sets_only_them_aside(tmp_path: Path) -> None:
    root = _own_template(tmp_path, "{{ '%.2f' | format(monetary) }}")
    spent, unknown = {**ANNA, "template": "own"}, {**EVA, "template": "own"}
    del unknown["locale"]
    unknown["locale"] = "de_DE"
    batch = render_letters([spent, unknown], make_environment(root), SETTINGS,
                           tmp_path / "letters.pdf")
    assert batch.quarantined == {"C3": "template_failed"}
    assert "templates/letter/de/own.html.j2 line 1" in batch.errors["C3"]
    assert "'monetary' is undefined for customer C3" in batch.errors["C3"]
    assert batch.printed == [(1, "C1")]  # a template failure takes no number


def test_a_template_failing_for_everyone_stops_the_build(tmp_path: Path) -> None:
    root = _own_template(tmp_path, "{{ monetary.nope }}")
    recipients = [{**EVA, "customer_id": f"C{n}", "template": "own"} for n in range(12)]
    with pytest.raises(TemplateError, match=r"own\.html\.j2 line 1: .*for customer C0"):
        render_letters(recipients, make_environment(root), SETTINGS, tmp_path / "letters.pdf")
    (root / "letter" / "de" / "own.html.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"own\.html\.j2 line 1: syntax error"):
        render_letters(recipients, make_environment(root), SETTINGS, tmp_path / "letters.pdf")
    assert not (tmp_path / "letters.pdf").exists()


def _own_template(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    (root / "letter" / "de" / "own.html.j2").write_text(
        '{% extends "letter/base.html.j2" %}{% block lang %}de{% endblock %}'
        "{% block subject %}Hallo{% endblock %}{% block body %}<p>" + body +
        "</p>{% endblock %}", encoding="utf-8")
    return root


def test_a_style_block_may_not_use_recipient_fields(tmp_path: Path) -> None:
    # The stylesheet is shared by all letters: a page header with a name would print the
    # first recipient's name on every letter.
    root = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", root)
    (root / "letter" / "de" / "own.html.j2").write_text(
        '{% extends "letter/base.html.j2" %}{% block lang %}de{% endblock %}'
        "{% block style %}@page { @top-left { content: {{ last_name | css_string }} } }"
        "{% endblock %}"
        "{% block subject %}Hallo{% endblock %}{% block body %}<p>x</p>{% endblock %}",
        encoding="utf-8")
    own = [{**ANNA, "template": "own"}, {**ANNA, "customer_id": "C2", "template": "own",
                                          "last_name": "Schmidt"}]
    with pytest.raises(TemplateError, match=r"templates/letter/de/own\.html\.j2: the style "
                                            r"block .*only layout, return_address"):
        render_letters(own, make_environment(root), SETTINGS, tmp_path / "letters.pdf")


SENDER = Sender(company="Schöner Laden GmbH", street="Marktplatz 5", postal_code="04109",
                city="Leipzig", country="DE", register="Amtsgericht Leipzig, HRB 1",
                managing_director="Eva Beispiel", vat_id="DE123456789")
WITH_SENDER = dataclasses.replace(SETTINGS, sender=SENDER)
HANS = {"customer_id": "C4", "salutation": "Herr", "first_name": "Hans", "last_name": "Muster",
        "company": "Muster AG", "street": "Bahnhofstrasse 1", "postal_code": "8001",
        "city": "Zürich", "country": "CH", "locale": "de_CH", "template": "winback"}


def test_postal_lines_follow_each_countrys_format() -> None:
    # Within Germany the town as written; no country prefix before a postcode.
    assert postal_lines("DE", "Eva Lang", "", "Weg 1", "01067", "Dresden", home="DE") == [
        "Eva Lang", "Weg 1", "01067 Dresden"]
    assert postal_lines("CH", "Eva Lang", "", "Weg 1", "8001", "Zürich", home="CH")[-1] == \
        "8001 Zürich"
    # Royal Mail: post town and postcode on lines of their own, in capitals.
    assert postal_lines("GB", "Mr Ben Smith", "", "1 High St", "SW1A 1AA", "London") == [
        "Mr Ben Smith", "1 High St", "LONDON", "SW1A 1AA"]
    # Swiss Post: company above the person; the postcode before the town.
    assert postal_lines("CH", "Herr Hans Muster", "Muster AG", "Bahnhofstrasse 1", "8001",
                        "Zürich") == ["Muster AG", "Herr Hans Muster", "Bahnhofstrasse 1",
                                      "8001 Zürich"]
    # USPS: town, state and ZIP code on one line.
    assert postal_lines("us", "Jane Doe", "", "1 Main St", "62701", "Springfield", "IL") == [
        "Jane Doe", "1 Main St", "SPRINGFIELD, IL 62701"]
    assert postal_lines("IE", "Seán Murphy", "", "1 Main St", "D02 X285", "Dublin") == [
        "Seán Murphy", "1 Main St", "DUBLIN", "D02 X285"]
    assert postal_lines("FR", "Mme Marie Dupont", "", "1 rue de la Paix", "75002", "Paris") == [
        "Mme Marie Dupont", "1 rue de la Paix", "75002 PARIS"]
    assert postal_lines("AT", "Eva Lang", "", "Ring 2", "1010", "Wien") == [
        "Eva Lang", "Ring 2", "1010 WIEN"]
    # A country the data does not know: name, company, street, postcode and town.
    assert postal_lines("XX", "A B", "", "Street 1", "123", "Town") == [
        "A B", "Street 1", "123 Town"]


def test_postal_lines_unescape_a_macros_markup_once() -> None:
    assert postal_lines("DE", Markup("Frau A &lt;b&gt;"), "", "S 1", "01067", "Dresden")[0] == \
        "Frau A <b>"


def test_a_uk_and_a_swiss_letter_from_germany(tmp_path: Path) -> None:
    batch, out = _build(tmp_path, [BEN, HANS], settings=WITH_SENDER)
    assert batch.printed == [(1, "C4"), (2, "C2")]  # CH before GB
    swiss, british = (_lines(t) for t in _texts(out))
    at = swiss.index("Muster AG")
    assert swiss[at:at + 5] == ["Muster AG", "Herr Hans Muster", "Bahnhofstrasse 1",
                                "8001 Zürich", "SCHWEIZ"]
    at = british.index("Mr Ben Smith")
    assert british[at:at + 5] == ["Mr Ben Smith", "1 High St", "LONDON", "SW1A 1AA",
                                  "UNITED KINGDOM"]
    # The return line names the sender's country on letters abroad, in the letter's language.
    assert "Schöner Laden GmbH · Marktplatz 5 · 04109 Leipzig · DEUTSCHLAND" in swiss
    assert "Schöner Laden GmbH · Marktplatz 5 · 04109 Leipzig · GERMANY" in british


def test_every_letter_carries_the_imprint_in_its_language(tmp_path: Path) -> None:
    _, out = _build(tmp_path, [ANNA, BEN], settings=WITH_SENDER)
    german, english = _texts(out)
    for text in (german, english):
        assert "Schöner Laden GmbH" in text
    assert "Marktplatz 5, 04109 Leipzig, Deutschland" in german
    assert "Registergericht: Amtsgericht Leipzig, HRB 1" in german
    assert "Geschäftsführung: Eva Beispiel" in german and "USt-IdNr.: DE123456789" in german
    assert "Marktplatz 5, 04109 Leipzig, Germany" in english
    assert "Register: Amtsgericht Leipzig, HRB 1" in english
    assert "Managing director: Eva Beispiel" in english and "VAT ID: DE123456789" in english
    assert "DEUTSCHLAND" not in german  # a letter at home has no country line


def test_worker_processes_give_the_same_bytes_as_one(tmp_path: Path) -> None:
    env = make_environment(ROOT / "templates")
    one = render_letters([ANNA, BEN, EVA, HANS], env, SETTINGS, tmp_path / "one.pdf",
                         workers=1, batch_size=1)
    two = render_letters([ANNA, BEN, EVA, HANS], env, SETTINGS, tmp_path / "two.pdf",
                         workers=2, batch_size=1)
    assert one.printed == two.printed and one.hashes == two.hashes
    assert (tmp_path / "one.pdf").read_bytes() == (tmp_path / "two.pdf").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.pdf", "two.pdf"]


def test_split_writes_one_pdf_per_letter_named_by_number(tmp_path: Path) -> None:
    settings = dataclasses.replace(SETTINGS, split=True)
    long = {**BEN, "customer_id": "C9", "postal_code": "AB1 1AA",
            "coupon": "VERY-LONG-CODE " * 250}
    batch, out = _build(tmp_path, [ANNA, BEN, EVA, long], settings=settings)
    assert batch.printed == [(1, "C3"), (2, "C1"), (4, "C2")]
    singles = sorted((tmp_path / "letters").iterdir())
    assert [p.name for p in singles] == ["000001.pdf", "000002.pdf", "000004.pdf"]
    merged = _texts(out)
    for single, page in zip(singles, merged, strict=True):
        assert _texts(single) == [page]


_ORPHAN = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import os, sys, time\\n"
    "from crmreport.personalise.letters import _follow_build\\n"
    "_follow_build(os.getppid())\\n"
    "print(os.getpid(), flush=True)\\n"
    "time.sleep(600)\\n"], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
os._exit(0)  # the build is gone; its worker must not wait on
"""


def test_a_worker_ends_when_its_build_is_gone() -> None:
    parent = subprocess.run([sys.executable, "-c", _ORPHAN], capture_output=True, text=True,
                            check=True)
    worker = int(parent.stdout.split()[0])
    for _ in range(600):  # it checks every second; wait at most a minute on a busy machine
        if not _running(worker):
            break
        time.sleep(0.1)
    assert not _running(worker)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:  # a zombie is gone too
        return handle.read().split(") ")[1][0] != "Z"
