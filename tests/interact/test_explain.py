from pathlib import Path

from tests.interact.test_plan import _two_offers

from crmreport import pipeline
from crmreport.config import load_campaign


def test_explain_says_why_the_first_choice_was_passed_over(shop: Path) -> None:
    loaded = load_campaign(_two_offers(shop) / "campaign.yaml")
    got = pipeline.explain(loaded, "C2")
    assert got.offer == "b" and got.decision.channel == "letter"
    assert got.decision.why_offer == (
        "eligible for 'b' (priority 5, value 0.0); passed over 'a' (the rules' first choice): "
        "it cannot reach the customer: email: email_consent is no (it has no letter channel)")
    suppressed = pipeline.explain(loaded, "C4").decision.why_offer or ""
    assert suppressed.endswith("passed over 'a' (the rules' first choice): it cannot reach "
                               "the customer: email: suppressed: unsubscribe (it has no "
                               "letter channel)")
    reached = pipeline.explain(loaded, "C1").decision.why_offer
    assert reached == ("eligible for 'a' (priority 10, value 0.0); preferred over 'b' "
                       "(priority 5, value 0.0)")
    nobody = pipeline.explain(loaded, "C3").decision
    assert nobody.excluded == "no_permission" and nobody.reason.startswith("no_permission: ")
    assert ("passed over 'b': it cannot reach the customer: email: no valid email address; "
            "letter: a letter is not allowed: mail_objection") in (nobody.why_offer or "")
