"""Names in reports: the campaign's labels per language, else the id made readable."""

import pandas as pd

from crmreport.monitor.results import CampaignResults
from crmreport.report.names import _rename, campaign_name, display_name, humanise, name_results

LABELS = {"at_risk": {"de": "Gefährdet", "en": "At risk"}, "vip": {"en": "VIP"}}


def test_label_in_the_report_language_else_a_readable_id() -> None:
    assert display_name("at_risk", LABELS, "de") == "Gefährdet"
    assert display_name("at_risk", LABELS, "en") == "At risk"
    assert display_name("vip", LABELS, "de") == "Vip"  # no German label: the id, readable
    assert humanise("winback-15") == "Winback 15"
    assert display_name("email", {}, "de") == "E-Mail"
    assert display_name("letter", {}, "en") == "Letter"
    assert display_name("unassigned", {}, "de") == "Nicht zugeordnet"


def test_rename_leaves_totals_alone() -> None:
    frame = pd.DataFrame({"segment": ["at_risk", None], "customers": [12, 12]})
    named, total = _rename(frame, "segment", LABELS, "de")["segment"].tolist()
    assert named == "Gefährdet" and pd.isna(total)


def test_campaign_by_its_label_else_its_id_as_written() -> None:
    labels = {"spring-2026": {"de": "Frühjahr 2026", "en": "Spring 2026"}}
    assert campaign_name("spring-2026", labels, "de") == "Frühjahr 2026"
    assert campaign_name("winter-2026", labels, "de") == "winter-2026"


def test_campaigns_are_named_in_every_results_table() -> None:
    labels = {"spring-2026": {"de": "Frühjahr 2026"}, "vip": {"de": "VIP-Vorschau"}}
    rows = pd.DataFrame({"campaign": ["spring-2026"], "dimension": ["offer"], "level": ["vip"]})
    variants = pd.DataFrame({"campaign": ["spring-2026"], "offer": ["vip"]})
    results = CampaignResults(30, 365, None, rows=rows, variants=variants, comparisons=variants,
                              order_channels=pd.DataFrame({"campaign": ["spring-2026"],
                                                           "contact_channel": ["email"],
                                                           "order_channel": ["online"]}))
    named = name_results(results, labels, "de")
    assert named is not None
    for frame in (named.rows, named.variants, named.comparisons, named.order_channels):
        assert frame["campaign"].tolist() == ["Frühjahr 2026"]
    assert named.rows["level"].tolist() == ["VIP-Vorschau"]
    assert named.variants["offer"].tolist() == ["VIP-Vorschau"]
