from crmreport.engine import Connection, connect
from crmreport.proof.redact import redact
from crmreport.tables import ASSIGNMENTS, CONTACT_PLAN, CUSTOMERS, SUGGESTIONS


def _engine() -> Connection:
    con = connect()
    for table in (CUSTOMERS, CONTACT_PLAN, ASSIGNMENTS, SUGGESTIONS):
        con.execute(table.create())
    con.execute("INSERT INTO customers (customer_id, email, salutation, first_name, last_name,"
                " company, street, postal_code, city, country) VALUES "
                "('C7', 'anna@example.de', 'Frau', 'Anna', 'Müller', NULL, 'Hauptstr. 1',"
                " '01067', 'Dresden', 'DE')")
    con.execute(f"INSERT INTO {CONTACT_PLAN} (customer_id, offer) VALUES ('C7', 'vip')")
    return con


def test_redact_invents_fields_keeps_empty_ones_empty_and_renames_the_id() -> None:
    first, second = _engine(), _engine()
    assert redact(first, ["C7"]) == {"C7": "PROOF-01"}
    redact(second, ["C7"])
    query = "SELECT * FROM customers"
    row = first.execute(query).fetchone()
    assert row == second.execute(query).fetchone()  # the same fakes every time
    assert row is not None
    values = dict(zip([d[0] for d in first.description or []], row, strict=True))
    assert values["customer_id"] == "PROOF-01" and values["email"] == "proof-01@example.org"
    assert values["company"] is None and values["salutation"] == "Frau"
    assert values["country"] == "DE"
    assert not {"Anna", "Müller", "Hauptstr. 1", "01067", "Dresden"} & set(values.values())
    assert first.execute(f"SELECT customer_id FROM {CONTACT_PLAN}").fetchall() == [("PROOF-01",)]
