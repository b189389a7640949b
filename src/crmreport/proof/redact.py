"""Fictitious names, streets and addresses for proofs that leave the company.

Each proof recipient gets a pseudonymous id (``PROOF-01`` ...) and invented personal fields,
picked by a hash of their position so the same proofs are always redacted alike. Salutation,
country and locale stay: they choose the greeting, the address layout and the template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from crmreport.engine import Connection
from crmreport.tables import ASSIGNMENTS, CONTACT_PLAN, SUGGESTIONS

FIRST_NAMES = ("Alex", "Kim", "Robin", "Sascha", "Charlie", "Toni", "Luca", "Jo")
LAST_NAMES = ("Muster", "Beispiel", "Example", "Sample", "Probe", "Placeholder")
STREETS = ("Musterstraße 1", "Beispielweg 2", "Example Road 3", "Probegasse 4")
# Fields a template may print that say who or where someone is; NULL stays NULL.
_FAKES: dict[str, Callable[[int], str]] = {
    "first_name": lambda n: FIRST_NAMES[n % len(FIRST_NAMES)],
    "last_name": lambda n: LAST_NAMES[n % len(LAST_NAMES)],
    "company": lambda n: f"Beispiel {n % 90 + 10} GmbH",
    "street": lambda n: STREETS[n % len(STREETS)],
    "postal_code": lambda n: f"{n % 90000 + 10000}",
    "city": lambda n: "Musterstadt",
}
# The tables the recipients' merge fields are read from (outputs.recipients).
_ID_TABLES = ("customers", CONTACT_PLAN.name, ASSIGNMENTS.name, SUGGESTIONS.name)


def pseudonym(index: int) -> str:
    return f"PROOF-{index + 1:02d}"


def redact(con: Connection, customer_ids: list[str]) -> dict[str, str]:
    """Replace the personal fields and ids of ``customer_ids`` in ``con``; return id -> pseudonym.

    Only the preview's own engine is changed; no file is touched."""
    renamed = {cid: pseudonym(i) for i, cid in enumerate(customer_ids)}
    for index, cid in enumerate(customer_ids):
        number = int(hashlib.md5(f"proof-{index}".encode()).hexdigest()[:8], 16)
        fields = {name: fake(number) for name, fake in _FAKES.items()}
        fields["email"] = f"{renamed[cid].lower()}@example.org"
        sets = ", ".join(f"{name} = CASE WHEN {name} IS NULL THEN NULL ELSE ? END"
                         for name in fields)
        con.execute(f"UPDATE customers SET {sets} WHERE customer_id = ?",
                    [*fields.values(), cid])
        for table in _ID_TABLES:
            con.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?",
                        [renamed[cid], cid])
    return renamed
