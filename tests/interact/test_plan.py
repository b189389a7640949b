import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import write_shop

from crmreport.config import load_campaign
from crmreport.interact import is_control
from crmreport.pipeline import prepare


def _plan_rows(folder: Path) -> dict[str, tuple]:
    run = prepare(load_campaign(folder / "campaign.yaml"))
    rows = run.con.execute("SELECT customer_id, channel, test_group, excluded "
                           "FROM contact_plan").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_consent_decides_the_channel(shop: Path) -> None:
    rows = _plan_rows(shop)
    assert rows == {
        "C1": ("email", "treatment", None),  # consent yes
        "C3": (None, None, "no_permission"),  # no email, objected to mail
        "C5": ("email", "treatment", None),  # consent yes, no postal address needed
    }


def test_suppression_falls_back_to_letter_or_excludes(shop: Path) -> None:
    (shop / "unsubscribes.csv").write_text("email,channel,reason\nANNA@example.de,email,bounce\n")
    assert _plan_rows(shop)["C1"] == ("letter", "treatment", None)
    (shop / "unsubscribes.csv").write_text("customer_id,channel,reason\nC1,all,objection\n")
    assert _plan_rows(shop)["C1"] == (None, None, "suppressed")


def test_caps_and_earlier_contacts_in_the_same_campaign(shop: Path) -> None:
    history = ("run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,"
               "test_group,content_hash\n"
               "r1,test-campaign,C1,2026-02-01,email,recent,vip-preview,A,control,\n"
               "r0,old,C5,2026-01-15,email,recent,x,A,treatment,abc\n")
    (shop / "contacts.csv").write_text(history)
    text = (shop / "campaign.yaml").read_text().replace(
        "policy: {", "policy: {max_contacts: {count: 1, days: 60}, ")
    (shop / "campaign.yaml").write_text(text)
    rows = _plan_rows(shop)
    assert rows["C1"][2] == "already_contacted"  # held out before: stays out of this campaign
    assert rows["C5"][2] == "frequency_cap"


people = st.lists(
    st.fixed_dictionaries({
        "consent": st.sampled_from(["yes", "no", "", "ja", "nein", "maybe"]),
        "email": st.booleans(), "address": st.booleans(), "objection": st.booleans(),
        "suppress": st.sampled_from(["", "email", "letter", "all"]),
    }), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people)
def test_no_contact_without_permission_on_any_input(customers: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_shop(Path(tmp), control=0.3)
        lines, orders, supp = [], [], []
        for i, p in enumerate(customers):
            email = f"p{i}@example.de" if p["email"] else ""
            street = "Weg 1,01067,Dresden" if p["address"] else ",,"
            lines.append(f"P{i},{email},,,,,{street},DE,de_DE,,{p['consent']},{p['objection']}")
            orders.append(f"X{i},P{i},,2026-02-20,10.00,EUR,completed,online")
            if p["suppress"]:
                supp.append(f"P{i},,{p['suppress']},test")
        header = (folder / "customers.csv").read_text().splitlines()[0]
        (folder / "customers.csv").write_text("\n".join([header, *lines]) + "\n")
        (folder / "orders.csv").write_text(
            "order_id,customer_id,ordered_at,order_date,amount,currency,status,channel\n"
            + "\n".join(orders) + "\n")
        (folder / "order_lines.csv").write_text("order_id,category\n")
        (folder / "unsubscribes.csv").write_text(
            "customer_id,email,channel,reason\n" + "\n".join(supp) + "\n")
        rows = _plan_rows(folder)
    for i, p in enumerate(customers):
        channel, group, excluded = rows[f"P{i}"]
        if channel == "email":
            assert p["consent"] in ("yes", "ja") and p["email"]
            assert p["suppress"] not in ("email", "all")
        if channel == "letter":
            assert p["address"] and not p["objection"]
            assert p["suppress"] not in ("letter", "all")
        if excluded is None:
            assert group == ("control" if is_control("test", f"P{i}", 0.3) else "treatment")


def test_control_share_per_segment_on_the_demo_data(tmp_path: Path) -> None:
    from crmreport.demo import generate

    root = Path(__file__).resolve().parents[2]
    generate(tmp_path, customers=6000)
    run = prepare(load_campaign(root / "campaigns" / "demo.yaml", data_dir=tmp_path))
    share = run.loaded.config.policy.control_group
    for segment, n, held in run.con.execute(
        "SELECT segment, count(*), count(*) FILTER (WHERE test_group = 'control') "
        "FROM contact_plan WHERE excluded IS NULL GROUP BY 1").fetchall():
        assert abs(held / n - share) < 3.5 * math.sqrt(share * (1 - share) / n) + 1 / n, segment


HISTORY = ("run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,test_group,"
           "content_hash\n")


def test_quiet_period_excludes_recent_contacts_of_any_campaign(shop: Path) -> None:
    (shop / "contacts.csv").write_text(
        HISTORY + "r0,other,C1,2026-02-20,email,s,x,A,treatment,h\n"
                  "r0,other,C5,2026-02-20,email,s,x,A,control,\n"
                  "r1,other,C5,2026-02-01,email,s,x,A,treatment,h\n")
    text = (shop / "campaign.yaml").read_text().replace("policy: {", "policy: {quiet_days: 14, ")
    (shop / "campaign.yaml").write_text(text)
    rows = _plan_rows(shop)
    assert rows["C1"][2] == "quiet_period"  # 9 days ago
    assert rows["C5"][2] is None  # the control holdout 9 days ago was no contact; 28 days ok


def test_suppressions_are_counted_per_reason(shop: Path) -> None:
    (shop / "unsubscribes.csv").write_text(
        "customer_id,email,channel,reason\nC1,,all,objection\n,eve@example.de,email,bounce\n"
        ",eve@example.de,all,unsubscribe\n")
    plan = prepare(load_campaign(shop / "campaign.yaml")).plan
    assert plan.excluded["suppressed"] == 2
    assert plan.suppression_reasons == {"bounce": 1, "objection": 1}  # first reason per person
    assert sum(plan.suppression_reasons.values()) == plan.excluded["suppressed"]


def test_a_suppressed_customer_keeps_a_shared_address_suppressed(shop: Path) -> None:
    customers = (shop / "customers.csv").read_text().replace(
        "C5,eve@example.de", "C5,anna@example.de")  # C5 shares C1's address
    (shop / "customers.csv").write_text(customers)
    (shop / "unsubscribes.csv").write_text("customer_id,channel,reason\nC1,email,unsubscribe\n")
    with (shop / "campaign.yaml").open("a") as campaign:
        campaign.write("identity: {match: []}\n")  # kept as two customers, not merged
    rows = _plan_rows(shop)
    assert rows["C1"] == ("letter", "treatment", None)
    assert rows["C5"] == (None, None, "suppressed")  # not emailed through the shared address


def test_a_contact_by_another_campaign_on_the_same_day_counts(shop: Path) -> None:
    (shop / "contacts.csv").write_text(
        "run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,test_group,"
        "content_hash\nr0,other,C1,2026-03-01,email,x,y,A,treatment,h\n"
        "r0,other,C5,2026-02-19,email,x,y,A,treatment,h\n")  # 10 days before as_of
    text = (shop / "campaign.yaml").read_text()
    (shop / "campaign.yaml").write_text(text.replace("policy: {", "policy: {quiet_days: 10, "))
    rows = _plan_rows(shop)
    assert rows["C1"][2] == "quiet_period"  # same day
    assert rows["C5"][2] is None  # 10 days ago lies outside the last 10 days (as_of - 10, as_of]


def _two_offers(shop: Path) -> Path:
    """Offer a (email only, priority 10) and b (email or letter, priority 5), both for all."""
    text = (shop / "campaign.yaml").read_text()
    offers = text[text.index("offers:"):text.index("policy:")]
    (shop / "campaign.yaml").write_text(text.replace(offers, """offers:
  - {id: a, segments: [recent, others], priority: 10, channels: [email],
     templates: {email: vip}}
  - {id: b, segments: [recent, others], priority: 5, channels: [email, letter],
     templates: {email: vip, letter: vip}}
"""))
    return shop


def test_an_offer_that_cannot_reach_the_customer_gives_way_to_the_next(shop: Path) -> None:
    run = prepare(load_campaign(_two_offers(shop) / "campaign.yaml"))
    rows = run.con.execute("SELECT customer_id, offer, channel, excluded "
                           "FROM contact_plan").fetchall()
    assert {r[0]: r[1:] for r in rows} == {
        "C1": ("a", "email", None),  # consent yes
        "C2": ("b", "letter", None),  # consent no: a cannot reach, b can by letter
        "C3": ("a", None, "no_permission"),  # no email, objected to mail: neither reaches
        "C4": ("b", "letter", None),  # consent ja, but the address unsubscribed from email
        "C5": ("a", "email", None),  # consent yes, no postal address
    }
    assert run.plan.offers == {"a": {"eligible": 5, "chosen": 3, "passed_over": 2},
                               "b": {"eligible": 5, "chosen": 2, "passed_over": 0}}


def test_a_customer_no_offer_reaches_keeps_the_first_choice_and_its_reason(
        shop: Path) -> None:
    (shop / "unsubscribes.csv").write_text("customer_id,channel,reason\nC1,all,objection\n"
                                           "C2,letter,objection\n")
    rows = _plan_rows(_two_offers(shop))
    assert rows["C1"] == (None, None, "suppressed")  # as with a alone
    run = prepare(load_campaign(shop / "campaign.yaml"))
    offers = dict(run.con.execute("SELECT customer_id, offer FROM contact_plan").fetchall())
    assert offers["C1"] == "a" and offers["C2"] == "a" and rows["C2"][2] == "no_permission"
