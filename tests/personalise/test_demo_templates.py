"""The demo's templates (templates/): the cross-sell sentence with the suggested category,
in the recipient's language, only for a recipient with a suggestion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crmreport.personalise import make_environment
from crmreport.personalise.legal import merge_fields
from crmreport.personalise.letters import postal_lines

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.relative_to(ROOT / "templates").as_posix()
                   for p in (ROOT / "templates").glob("*/*/*.j2"))
SENTENCE = {"de": "in unserer Kategorie „Bücher“", "en": "Have you seen our books range?"}
RECIPIENT = {
    "customer_id": "C1", "salutation": "Frau", "first_name": "Anna", "last_name": "Muster",
    "street": "Weg 1", "postal_code": "01067", "city": "Dresden", "country": "DE",
    "shop_url": "https://shop.example", "sender_name": "Shop", "unsubscribe_url": "https://u",
    "return_address": "Shop GmbH · Weg 1 · 01067 Dresden", "letter_date": dt.date(2026, 3, 1),
    "monetary": 10, "recency_days": 100, "orders": 1,
}


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_cross_sell_sentence_only_with_a_suggestion(name: str) -> None:
    env = make_environment(ROOT / "templates")
    lang = name.split("/")[1]
    sentence = env.from_string('{% import "macros.txt.j2" as m %}'
                               f"{{{{ m.cross_sell('{lang}', 'books') }}}}").render()
    assert SENTENCE[lang] in sentence
    recipient = RECIPIENT | merge_fields(None, f"{lang}_DE") | {  # what letters add
        "postal_lines": postal_lines, "home": "DE", "layout": "din5008b", "part": "letter"}
    without = env.get_template(name).render(recipient)
    with_one = env.get_template(name).render(recipient | {"suggested_category": "books"})
    added = f"{sentence}\n\n" if name.endswith(".txt.j2") else f"<p>{sentence}</p>\n"
    assert with_one.count(added) == 1
    assert with_one.replace(added, "") == without  # only the sentence is added
    assert "Kategorie „" not in without and "range?" not in without


def test_the_demo_templates_cover_every_kind_and_language() -> None:
    assert {tuple(n.split("/")[:2]) for n in TEMPLATES} == {
        ("email", "de"), ("email", "en"), ("letter", "de"), ("letter", "en")}
