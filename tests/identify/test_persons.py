"""One customer per person: records matched by identity.match merge into the first record.

Every expected value here is worked out by hand from the fixture rows, not read off the code.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from tests.conftest import CAMPAIGN, ROOT, write_shop

from crmreport import pipeline
from crmreport.config import load_campaign
from crmreport.engine import Connection, connect
from crmreport.errors import ConfigError
from crmreport.features import compute_features
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources

# Row by row (data rows 1..10):
#  1 A1 first record of Eva
#  2 A2 Eva's address in other case and with spaces -> A1 (email); says 'nein'
#  3 B1 Bo by email only
#  4 B2 Bo's address and name -> B1 (email)
#  5 B3 another address, Bo's name and postcode in other case/spaces -> B2 (name rule) -> B1
#  6 C1 Cara, 'ja'
#  7 C2 Cara's name and postcode, no address, objects to mail -> C1 (name rule)
#  8 D1 Dan, unrelated
#  9 A1 again: a same-id duplicate
# 10 E1 same name as Dan but another postcode: not the same person
CUSTOMERS = """\
customer_id,email,first_name,last_name,postal_code,email_consent,mail_objection
A1, Eva@Example.de ,Eva,Berg,01067,ja,
A2,eva@example.de  ,,,,nein,
B1,bo@example.de,,,,yes,
B2,BO@example.de,Bo,Lind,10115,yes,
B3,other@example.de, bo ,LIND,10115 ,yes,
C1,cara@example.de,Cara,Voss,20095,ja,
C2,,Cara,Voss,20095,,x
D1,dan@example.de,Dan,Roth,50667,yes,
A1,,,,,,
E1,erik@example.de,Dan,Roth,50668,yes,
"""

ORDERS = """\
order_id,customer_id,order_date,amount,status
O1,A1,2025-11-01,10.00,
O2,A2,2025-12-01,15.50,
O3,B3,2026-01-10,20.00,
O4,B1,2025-06-01,5.00,
O5,D1,2025-10-01,7.00,
O6,X9,2025-10-01,1.00,
"""

SUPPRESSIONS = """\
customer_id,email,channel,reason
A2,,letter,objection
,other@example.de,email,unsubscribe
"""

CONTACTS = """\
run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,test_group
r1,spring,C2,2026-02-01,email,x,y,A,treatment
"""

EMAIL_AND_NAME = (("email",), ("last_name", "first_name", "postal_code"))


def _identify(tmp_path: Path, match: tuple[tuple[str, ...], ...]) -> tuple[Connection, dict]:
    files = {"c.csv": CUSTOMERS, "o.csv": ORDERS, "s.csv": SUPPRESSIONS, "h.csv": CONTACTS}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    con = connect()
    staged = load_sources(con, [SourceFile("customers", tmp_path / "c.csv"),
                                 SourceFile("orders", tmp_path / "o.csv"),
                                 SourceFile("suppressions", tmp_path / "s.csv"),
                                 SourceFile("contacts", tmp_path / "h.csv")])
    identify_tables(con, staged, "EUR", match=match)
    assert all(f.balanced for f in staged.account.files)
    return con, {f.table: f for f in staged.account.files}


def _persons(con: Connection) -> dict[str, str]:
    return dict(con.execute("SELECT customer_id, person_id FROM customer_ids").fetchall())


def test_email_in_other_case_and_spaces_is_one_person_by_default(tmp_path: Path) -> None:
    con, files = _identify(tmp_path, (("email",),))
    assert _persons(con) == {"A1": "A1", "A2": "A1", "B1": "B1", "B2": "B1", "B3": "B3",
                             "C1": "C1", "C2": "C2", "D1": "D1", "E1": "E1"}
    ids = [r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()]
    assert ids == ["A1", "B1", "B3", "C1", "C2", "D1", "E1"]  # survivors in file order
    entry = files["customers"]
    # rows counted by hand: A2 and B2 same person, row 9 the same id as row 1
    assert (entry.rows_in, entry.loaded, entry.merged, entry.quarantined) == (10, 7, 3, 0)
    assert entry.reasons == {"same_person": 2, "duplicate_customer_id": 1}


def test_a_chain_by_email_then_name_and_postcode_is_one_person(tmp_path: Path) -> None:
    con, files = _identify(tmp_path, EMAIL_AND_NAME)
    persons = _persons(con)
    assert {k for k, v in persons.items() if v == "B1"} == {"B1", "B2", "B3"}
    assert persons["C2"] == "C1" and persons["E1"] == "E1" and persons["D1"] == "D1"
    entry = files["customers"]
    assert (entry.loaded, entry.merged) == (5, 5)  # A, B, C, D, E; 10 rows in
    assert entry.reasons == {"same_person": 4, "duplicate_customer_id": 1}
    # B1 gave no name: the first non-empty one in file order (B2's) fills it
    row = con.execute("SELECT email, first_name, last_name, postal_code FROM customers "
                      "WHERE customer_id = 'B1'").fetchone()
    assert row == ("bo@example.de", "Bo", "Lind", "10115")


def test_consent_merges_restrictively(tmp_path: Path) -> None:
    con, _ = _identify(tmp_path, EMAIL_AND_NAME)
    permission = {r[0]: r[1:] for r in con.execute(
        "SELECT customer_id, email_consent, mail_objection FROM customers").fetchall()}
    assert permission["A1"] == ("no", False)  # 'ja' + a later 'nein' under A2: no
    assert permission["C1"] == ("yes", True)  # C2's objection counts for the person
    assert permission["B1"] == ("yes", False)


def test_orders_contacts_and_suppressions_follow_the_person(tmp_path: Path) -> None:
    con, files = _identify(tmp_path, EMAIL_AND_NAME)
    owners = dict(con.execute("SELECT order_id, customer_id FROM orders").fetchall())
    assert owners == {"O1": "A1", "O2": "A1", "O3": "B1", "O4": "B1", "O5": "D1", "O6": "X9"}
    assert files["orders"].flags["unknown_customer"] == 1  # only X9; A2 and B3 are known
    assert con.execute("SELECT customer_id FROM contacts").fetchall() == [("C1",)]
    rules = set(con.execute("SELECT customer_id, channel, reason FROM suppressions "
                            "WHERE customer_id IS NOT NULL").fetchall())
    # A2's letter suppression is A1's; B3's unsubscribed address suppresses B1 by email
    assert rules == {("A1", "letter", "objection"), ("B1", "email", "unsubscribe")}


def test_orders_of_merged_ids_sum_into_one_customer(tmp_path: Path) -> None:
    con, _ = _identify(tmp_path, EMAIL_AND_NAME)
    compute_features(con, dt.date(2026, 3, 1))
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT customer_id, orders, monetary, last_order_date FROM features").fetchall()}
    assert rows["A1"] == (2, Decimal("25.50"), dt.date(2025, 12, 1))  # 10.00 + 15.50
    assert rows["B1"] == (2, Decimal("25.00"), dt.date(2026, 1, 10))  # 5.00 + 20.00
    assert set(rows) == {"A1", "B1", "C1", "D1", "E1"}


def test_match_empty_keeps_records_apart(tmp_path: Path) -> None:
    con, files = _identify(tmp_path, ())
    persons = _persons(con)
    assert all(k == v for k, v in persons.items()) and len(persons) == 9
    entry = files["customers"]
    assert (entry.loaded, entry.merged, entry.reasons) == (9, 1, {"duplicate_customer_id": 1})
    assert entry.flags == {"shared_email": 4}  # A1, A2, B1, B2: addresses shared, shown
    owners = dict(con.execute("SELECT order_id, customer_id FROM orders").fetchall())
    assert owners["O2"] == "A2"


def _campaign(folder: Path, identity: str) -> Path:
    body = CAMPAIGN.format(templates=ROOT / "templates", control=0.0) + identity
    return write_shop(folder, campaign=body) / "campaign.yaml"


def test_identity_columns_are_checked_with_a_suggestion(tmp_path: Path) -> None:
    path = _campaign(tmp_path, "identity:\n  match:\n    - [email]\n    - [last_name, postcode]\n")
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    problem = caught.value.problems[0]
    line = path.read_text(encoding="utf-8").splitlines().index("    - [last_name, postcode]") + 1
    assert (problem.file, problem.key, problem.line) == (str(path), "identity.match[1][1]", line)
    assert "'postcode' is not a customer column" in problem.message
    assert problem.fix == "did you mean 'postal_code'?"


def test_explain_an_old_id_names_its_survivor(tmp_path: Path) -> None:
    folder = write_shop(tmp_path)
    extra = "C9, Anna@Example.DE,,,,,,,,,,,nein,true\n"  # C1's address: merged into C1
    with (folder / "customers.csv").open("a", encoding="utf-8") as out:
        out.write(extra)
    loaded = load_campaign(folder / "campaign.yaml")
    old = pipeline.explain(loaded, "C9")
    assert old.customer_id == "C1" and old.asked == "C9"
    assert old.identity is not None and old.identity.startswith("customer C9 was merged into C1")
    assert old.features["email_consent"] == "no"  # C9's 'nein' withdraws C1's yes
    survivor = pipeline.explain(loaded, "C1")
    assert survivor.merged_ids == ["C9"]
    assert survivor.identity is not None and "one person with C9" in survivor.identity
    # C1 alone would be emailed; the person withdrew consent (C9) and objects to mail (C9)
    assert (survivor.decision.status, survivor.decision.excluded) == ("excluded", "no_permission")


def test_a_repeated_id_without_the_shared_value_follows_its_person(tmp_path: Path) -> None:
    # B's second row has no email: it is still B's, and B is A's person.
    (tmp_path / "c.csv").write_text("customer_id,email,city\nA,x@example.de,\nB,x@example.de,"
                                    "\nB,,Dresden\n", encoding="utf-8")
    con = connect()
    staged = load_sources(con, [SourceFile("customers", tmp_path / "c.csv")])
    identify_tables(con, staged, "EUR", match=(("email",),))
    assert _persons(con) == {"A": "A", "B": "A"}
    assert con.execute("SELECT customer_id, city FROM customers").fetchall() == [
        ("A", "Dresden")]  # one customer; B's later row fills the empty city
    entry = staged.account.files[0]
    assert (entry.rows_in, entry.loaded, entry.merged) == (3, 1, 2)
