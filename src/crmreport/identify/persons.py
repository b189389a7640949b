"""One customer per person: customer records under different ids that match are merged.

The rule, stated once:
- Two customer records are the same person when, for any one set of columns of the
  campaign's ``identity.match``, all the set's values are equal and non-empty after
  normalising (the email as identify cleans it: trimmed, lower-cased, invalid blanked;
  other columns trimmed, lower-cased, inner spaces collapsed). Default: the email alone;
  ``match: []`` merges nothing but same-id duplicates.
- Matching is transitive (A~B by email and B~C by name and postcode: one person), and
  records with the same customer id are always one person.
- The person keeps the customer id of its first record in file order, as same-id duplicates
  do; its fields and permissions follow the customer merge rule (``cleaning``).
- ``customer_ids`` maps every loaded id to its person; orders, the contact history and
  suppressions by customer id follow the person, and a suppression of any record's email
  applies to the person too, so a merge never weakens a suppression.
"""

from __future__ import annotations

from collections.abc import Sequence

from crmreport.config.models import MATCH_COLUMNS
from crmreport.engine import Connection
from crmreport.reasons import MERGE, code
from crmreport.tables import CUSTOMER_IDS, SUPPRESSIONS

__all__ = ["DEFAULT_MATCH", "MATCH_COLUMNS", "follow", "link", "map_ids", "match_value"]

DEFAULT_MATCH: tuple[tuple[str, ...], ...] = (("email",),)
SAME_PERSON = code("same_person", MERGE)
PERSON = "_person"  # staging column: the customer id of the row's person
LINKS = "person_links"
EMAILS = "person_emails"  # the addresses of merged persons' records, for suppressions


def match_value(column: str) -> str:
    """SQL normalising a staged customer column (one of MATCH_COLUMNS) for matching; NULL
    when empty."""
    if column == "email":  # staged trimmed and lower-cased, invalid addresses blanked
        return column
    return f"nullif(regexp_replace(lower(trim({column})), '\\s+', ' ', 'g'), '')"


def _rule_key(columns: Sequence[str]) -> str:
    """One rule's key: the normalised values, NULL unless every one is non-empty."""
    values = [match_value(c) for c in columns]
    complete = " AND ".join(f"{v} IS NOT NULL" for v in values)
    return f"CASE WHEN {complete} THEN list_value({', '.join(values)}) END"


def link(con: Connection, staging: str, kept: str, match: Sequence[Sequence[str]]) -> bool:
    """Set each kept staged row's person to the id of the first row (file order) it is linked
    to, directly or through others; True when some person holds more than one id."""
    if not match:
        return False
    keys = [f"k{i}" for i in range(len(match))]
    selected = ", ".join(f"{_rule_key(cols)} AS {k}" for k, cols in zip(keys, match,
                                                                        strict=True))
    shared = " OR ".join([f"({k} IS NOT NULL AND count(*) OVER (PARTITION BY {k}) > 1)"
                          for k in keys] + ["count(*) OVER (PARTITION BY customer_id) > 1"])
    # Only rows sharing a key or their id with another row can link: the rest are their own
    # person. A repeated id links too, so a row of it without the shared value follows it.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {LINKS} AS SELECT * EXCLUDE (s) FROM (
        SELECT rowid AS r, customer_id AS id, rowid AS label, {', '.join(keys)},
               {shared} AS s FROM (SELECT rowid, customer_id, {selected} FROM {staging}
                                   WHERE {kept})) WHERE s""")
    _propagate(con, ["id", *keys])
    con.execute(f"""CREATE OR REPLACE TEMP TABLE person_of AS
        SELECT l.r, f.id AS person FROM {LINKS} l JOIN {LINKS} f ON f.r = l.label
        WHERE f.id <> l.id""")
    count = con.execute("SELECT count(*) FROM person_of").fetchall()[0][0]
    if count:
        con.execute(f"UPDATE {staging} SET {PERSON} = p.person FROM person_of p "
                    f"WHERE {staging}.rowid = p.r")
    con.execute(f"DROP TABLE {LINKS}")
    con.execute("DROP TABLE person_of")
    return bool(count)


def _propagate(con: Connection, keys: Sequence[str]) -> None:
    """Give every row the smallest label among the rows it shares a key with, until none
    changes: each row then holds the first row of its connected records."""
    nearest = ", ".join(f"CASE WHEN {k} IS NOT NULL THEN min(label) OVER (PARTITION BY {k}) END"
                        for k in keys)
    while con.execute(f"""UPDATE {LINKS} SET label = n.label FROM (
            SELECT r, least({nearest}) AS label FROM {LINKS}) n
            WHERE {LINKS}.r = n.r AND n.label < {LINKS}.label""").fetchall()[0][0]:
        pass


def map_ids(con: Connection, staging: str, kept: str, merged: bool) -> None:
    """Make ``customer_ids`` (every loaded id and its person, in file order) and, when records
    were merged, the addresses of each merged person's records."""
    con.execute(CUSTOMER_IDS.create())
    order = "GROUP BY customer_id ORDER BY min(rowid)" if merged else "ORDER BY rowid"
    person = f"any_value({PERSON})" if merged else PERSON
    con.execute(f"INSERT INTO {CUSTOMER_IDS} SELECT customer_id, {person} FROM {staging} "
                f"WHERE {kept} {order}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {EMAILS} (person_id VARCHAR, email VARCHAR)")
    if merged:
        con.execute(f"""INSERT INTO {EMAILS} SELECT DISTINCT {PERSON}, email FROM {staging}
            WHERE {kept} AND email IS NOT NULL AND {PERSON} IN (
                SELECT person_id FROM {CUSTOMER_IDS} WHERE customer_id <> person_id)""")


def follow(con: Connection) -> None:
    """Orders, contacts and suppressions by customer id follow the person; a suppression of
    any of a person's addresses suppresses the person."""
    moved = f"SELECT customer_id, person_id FROM {CUSTOMER_IDS} WHERE customer_id <> person_id"
    if not con.execute(f"SELECT count(*) FROM ({moved})").fetchall()[0][0]:
        con.execute(f"DROP TABLE IF EXISTS {EMAILS}")
        return
    for table in ("orders", "contacts", "suppressions"):
        con.execute(f"UPDATE {table} SET customer_id = m.person_id FROM ({moved}) m "
                    f"WHERE {table}.customer_id = m.customer_id")
    con.execute(f"""INSERT INTO {SUPPRESSIONS} SELECT DISTINCT e.person_id, NULL, s.channel,
        s.reason, s.since FROM {SUPPRESSIONS} s JOIN {EMAILS} e ON s.email = e.email""")
    con.execute(f"DROP TABLE {EMAILS}")
