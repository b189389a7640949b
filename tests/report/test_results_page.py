"""The campaign-results part of the response section, rendered from a fixture with variants
and both order channels, in German."""

import jinja2
from tests.report.test_results_suppression import AS_OF, K, _data

from crmreport.monitor.results import campaign_results
from crmreport.report.format import Formatter
from crmreport.report.html import TEMPLATE_DIR
from crmreport.report.labels import LABELS
from crmreport.report.names import name_results
from crmreport.report.results import results_context, suppress_results


def _render(language: str) -> str:
    raw = campaign_results(_data(4, 900), 30, {"email": 0.002, "letter": 1.0}, AS_OF,
                           margin=0.4)
    safe = name_results(suppress_results(raw, K), {}, language)  # as write_report does
    t = LABELS[language]
    context = results_context(safe, Formatter(language), t)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("_response.html.j2").render(
        t=t, results=context, charts={"chart-uplift": "", "chart-rates": ""},
        results_suppressed_note="")


def test_variants_order_channels_and_return_are_shown():
    html = _render("de")
    assert "Kampagne spring: A/B/n-Varianten" in html
    assert "Variante A" in html and "Kontrollgruppe" in html
    assert "noch kein Gewinner" in html or "Gewinner" in html
    assert "Filiale" in html and "Onlineshop" in html
    assert "Kosten vernachlässigbar" in html  # email at 0.002 a contact
    assert "Zusatzmarge = Zusatzumsatz x 40\xa0% Marge." in html


def test_no_english_left_in_the_german_section():
    html = _render("de")
    for word in ("Incremental", "Contacted", "no winner", "store", "online shop", "Total<"):
        assert word not in html, word
