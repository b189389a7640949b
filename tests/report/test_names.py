"""Names in reports: the campaign's labels per language, else the id made readable."""

import pandas as pd

from crmreport.report.names import _rename, display_name, humanise

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
