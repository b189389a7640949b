"""The cleaning SQL per canonical table and the bookkeeping that accounts for every row."""

from __future__ import annotations

from dataclasses import dataclass, field

from crmreport.engine import Connection
from crmreport.identify import normalise as n
from crmreport.ingest import release_raw
from crmreport.ingest.account import Account
from crmreport.tables import TABLES


@dataclass(frozen=True)
class Spec:
    """How one raw table becomes its canonical table."""

    table: str
    columns: dict[str, str]  # canonical column -> SQL over raw_<table>
    checks: list[tuple[str, str]]  # (reason code, SQL true when the row must be quarantined)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (code, SQL) on loaded rows
    key: str | None = None  # duplicates on this key are merged into the first row
    # Columns merged by their own aggregate instead of "first non-empty value".
    merge: dict[str, str] = field(default_factory=dict)


def build_tables(con: Connection, account: Account, currency: str) -> None:
    """Create customers, orders, order_lines, suppressions and contacts; fill in the account."""
    con.execute("CREATE OR REPLACE TABLE quarantine (tbl VARCHAR, _file INTEGER, _row BIGINT, "
                "line BIGINT, reason VARCHAR, data VARCHAR)")
    _rejects(con, account)
    for spec in _specs(currency):
        _settle(con, account, spec)
    release_raw(con)  # the staged text is no longer needed: free its memory


def _rejects(con: Connection, account: Account) -> None:
    """Rows the parser rejected (counted at ingest) go to the quarantine file as written."""
    con.execute("""INSERT INTO quarantine SELECT NULL, _file, NULL, line,
                   CASE WHEN error = 'INVALID ENCODING' THEN 'wrong_encoding'
                   ELSE 'malformed_row' END, csv_line FROM raw_rejects ORDER BY _file, line""")
    for entry, index in ((e, i) for i, e in enumerate(account.files)):
        con.execute("UPDATE quarantine SET tbl = ? WHERE _file = ? AND tbl IS NULL",
                    [entry.table, index])


def _specs(currency: str) -> list[Spec]:
    return [_customers(), _orders(currency), _order_lines(), _suppressions(), _contacts()]


def _customers() -> Spec:
    email = n.email("email")
    return Spec(
        table="customers",
        columns={
            "customer_id": n.text("customer_id"),
            "email": f"CASE WHEN {n.valid_email(email)} THEN {email} END",
            **{c: n.text(c) for c in ("salutation", "first_name", "last_name", "company",
                                      "street", "city", "locale")},
            "postal_code": n.postal_code("postal_code"),
            "country": n.country("country"),
            "signup_date": n.date("signup_date"),
            "email_consent": n.consent("email_consent"),
            "mail_objection": n.flag("mail_objection"),
        },
        checks=[
            ("missing_customer_id", f"{n.text('customer_id')} IS NULL"),
            ("mangled_customer_id", f"regexp_matches(trim(customer_id), '{n.MANGLED_ID}')"),
        ],
        flags=[
            ("invalid_email", f"{email} IS NOT NULL AND NOT {n.valid_email(email)}"),
            ("unrecognised_consent", n.unrecognised_consent("email_consent")),
            ("bad_signup_date", f"{n.text('signup_date')} IS NOT NULL AND "
                                f"{n.date('signup_date')} IS NULL"),
            ("unknown_country", f"{n.text('country')} IS NOT NULL AND "
                                f"{n.country('country')} IS NULL"),
            # The same address on two customer ids: both kept, neither merged by guesswork.
            ("shared_email", f"{email} IN (SELECT {email} FROM raw_customers WHERE _reason IS "
                             f"NULL AND _merge IS NULL AND {n.valid_email(email)} GROUP BY 1 "
                             f"HAVING count(DISTINCT {n.text('customer_id')}) > 1)"),
            ("test_customer", n.test_record(email, "first_name", "last_name")),
        ],
        key="customer_id",
        # Permission is never assembled from different rows: any objection counts, and email
        # consent is 'yes' only if the row giving the address says so and no row says no.
        merge={
            "mail_objection": "bool_or(mail_objection)",
            "email_consent": "CASE WHEN bool_or(email_consent = 'no') THEN 'no' ELSE "
                             "coalesce(arg_min(email_consent, _ord) FILTER (WHERE email IS NOT "
                             "NULL), 'unknown') END",
        },
    )


def _orders(currency: str) -> Spec:
    day = f"coalesce({n.date('order_date')}, {n.date('ordered_at')})"
    return Spec(
        table="orders",
        columns={
            "order_id": n.text("order_id"),
            "customer_id": n.text("customer_id"),
            "ordered_at": f"coalesce({n.timestamp('ordered_at')}, CAST({day} AS TIMESTAMPTZ))",
            "order_date": day,
            "amount": n.decimal("amount"),
            "currency": f"coalesce(upper({n.text('currency')}), '{currency}')",
            "status": f"coalesce({n.mapped('status', n.STATUS)}, 'completed')",
            "channel": f"lower({n.text('channel')})",
        },
        checks=[
            ("missing_order_id", f"{n.text('order_id')} IS NULL"),
            ("mangled_customer_id", f"regexp_matches(trim(customer_id), '{n.MANGLED_ID}')"),
            ("bad_order_date", f"{day} IS NULL"),
            ("bad_amount", f"{n.decimal('amount')} IS NULL"),
            ("unknown_status", f"{n.text('status')} IS NOT NULL AND "
                               f"{n.mapped('status', n.STATUS)} IS NULL"),
            ("other_currency", f"coalesce(upper({n.text('currency')}), '{currency}') "
                               f"<> '{currency}'"),
        ],
        flags=[
            ("guest_order", f"{n.text('customer_id')} IS NULL"),
            ("unknown_customer", f"{n.text('customer_id')} NOT IN "
                                 "(SELECT customer_id FROM customers)"),
        ],
        key="order_id",
    )


def _order_lines() -> Spec:
    return Spec(
        table="order_lines",
        columns={
            "order_id": n.text("order_id"),
            "sku": n.text("sku"),
            "product": n.text("product"),
            "category": f"lower({n.text('category')})",
            "quantity": f"coalesce(TRY_CAST({n.text('quantity')} AS INTEGER), 1)",
            "unit_price": n.decimal("unit_price"),
        },
        checks=[
            ("unknown_order", f"{n.text('order_id')} IS NULL OR {n.text('order_id')} NOT IN "
                              "(SELECT order_id FROM orders)"),
        ],
        # An empty quantity means one item; one that is not a whole number is shown, not hidden.
        flags=[("bad_quantity", f"{n.text('quantity')} IS NOT NULL AND "
                                f"TRY_CAST({n.text('quantity')} AS INTEGER) IS NULL")],
    )


def _suppressions() -> Spec:
    return Spec(
        table="suppressions",
        columns={
            "customer_id": n.text("customer_id"),
            "email": n.email("email"),
            "channel": f"coalesce({n.mapped('channel', n.CHANNEL)}, 'all')",
            "reason": f"coalesce({n.text('reason')}, 'unspecified')",
            "since": n.date("since"),
        },
        checks=[
            ("no_identifier", f"{n.text('customer_id')} IS NULL AND {n.text('email')} IS NULL"),
            ("unknown_channel", f"{n.text('channel')} IS NOT NULL AND "
                                f"{n.mapped('channel', n.CHANNEL)} IS NULL"),
        ],
    )


def _contacts() -> Spec:
    group = f"lower({n.text('test_group')})"
    return Spec(
        table="contacts",
        columns={
            **{c: n.text(c) for c in ("run_id", "campaign", "customer_id", "segment", "offer",
                                      "variant", "content_hash", "coupon")},
            "contacted_at": n.date("contacted_at"),
            "channel": n.mapped("channel", {"email": n.CHANNEL["email"],
                                            "letter": n.CHANNEL["letter"]}),
            "test_group": group,
        },
        checks=[
            ("incomplete_contact", f"{n.text('campaign')} IS NULL OR "
                                   f"{n.text('customer_id')} IS NULL OR "
                                   f"{n.date('contacted_at')} IS NULL"),
            ("unknown_group", f"{group} IS NULL OR {group} NOT IN ('treatment', 'control')"),
        ],
    )


def _settle(con: Connection, account: Account, spec: Spec) -> None:
    """Stage, quarantine, merge and type one table, recording each step per source file.

    Order of judgement per row: a preset's quarantine reason, a preset's merge (the row's
    data is held by another row), the table's checks; then duplicates of the key merge into
    the first row by file order.
    """
    reason = " ".join(f"WHEN {sql} THEN '{code}'" for code, sql in spec.checks)
    flags = "".join(f", ({sql}) AS _flag_{code}" for code, sql in spec.flags)
    columns = ", ".join(f"{sql} AS {name}" for name, sql in spec.columns.items())
    raw_values = ", ".join(f"'{c}', r.{c}" for c in TABLES[spec.table])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE stage AS
        SELECT _file, _row, _counted, _merge, _dup, _flags,
               (_file::BIGINT << 40) + _row AS _ord, {columns},
               CASE WHEN _reason IS NOT NULL THEN _reason WHEN _merge IS NOT NULL THEN NULL
                    {reason} END AS _reason {flags}
        FROM raw_{spec.table}"""
    )
    con.execute(f"""INSERT INTO quarantine
        SELECT '{spec.table}', q._file, q._row, NULL, q._reason, json_object({raw_values})::VARCHAR
        FROM (SELECT _file, _row, _reason, _ord FROM stage
              WHERE _reason IS NOT NULL AND _counted) q
        JOIN raw_{spec.table} r ON r._file = q._file AND r._row = q._row AND r._counted
        ORDER BY q._ord""")
    dups = _duplicates(con, spec)
    _count(con, account, spec, dups)
    con.execute(f"CREATE OR REPLACE TABLE {spec.table} AS {_final_select(spec, dups)}")
    con.execute("DROP TABLE stage")
    con.execute("DROP TABLE IF EXISTS stage_dups")


KEPT = "_reason IS NULL AND _merge IS NULL"


def _duplicates(con: Connection, spec: Spec) -> bool:
    """Collect the keys held by more than one kept row; True when there are any."""
    if spec.key is None:
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE stage_dups AS SELECT {spec.key} FROM stage
                    WHERE {KEPT} GROUP BY {spec.key} HAVING count(*) > 1""")
    rows = con.execute("SELECT count(*) FROM stage_dups").fetchall()
    return bool(rows and rows[0][0])


def _final_select(spec: Spec, dups: bool) -> str:
    types = TABLES[spec.table]
    plain = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in types.items())
    if not dups:
        return f"SELECT {plain} FROM stage WHERE {KEPT}"
    assert spec.key is not None
    merged = ", ".join(
        f"CAST({c} AS {t}) AS {c}" if c == spec.key
        else f"CAST({spec.merge.get(c, f'arg_min({c}, _ord) FILTER (WHERE {c} IS NOT NULL)')} "
             f"AS {t}) AS {c}"
        for c, t in types.items()
    )
    key = spec.key
    return (f"SELECT * EXCLUDE (_o) FROM ("
            f"SELECT {plain}, _ord AS _o FROM stage WHERE {KEPT} "
            f"AND {key} NOT IN (SELECT {key} FROM stage_dups) "
            f"UNION ALL SELECT {merged}, min(_ord) AS _o FROM stage WHERE {KEPT} "
            f"AND {key} IN (SELECT {key} FROM stage_dups) GROUP BY {key}) ORDER BY _o")


def _count(con: Connection, account: Account, spec: Spec, dups: bool) -> None:
    for file_index, code, count in con.execute(
        "SELECT _file, _reason, count(*) FROM stage WHERE _reason IS NOT NULL AND _counted "
        "GROUP BY ALL"
    ).fetchall():
        account.files[file_index].quarantine(code, count)
    for file_index, code, count in con.execute(
        "SELECT _file, _merge, count(*) FROM stage WHERE _reason IS NULL AND _merge IS NOT NULL "
        "AND _counted GROUP BY ALL"
    ).fetchall():
        account.files[file_index].merge(code, count)
    if dups:
        for file_index, code, count in con.execute(
            f"""SELECT _file, coalesce(_dup, 'duplicate_{spec.key}'), count(*) FROM (
                SELECT _file, _dup, _counted, row_number() OVER
                (PARTITION BY {spec.key} ORDER BY _ord) AS k FROM stage WHERE {KEPT}
                AND {spec.key} IN (SELECT {spec.key} FROM stage_dups))
                WHERE k > 1 AND _counted GROUP BY ALL"""
        ).fetchall():
            account.files[file_index].merge(code, count)
    first = (f"{KEPT} AND _counted" if not dups else
             f"{KEPT} AND _counted AND ({spec.key} NOT IN (SELECT {spec.key} FROM stage_dups) "
             f"OR _ord IN (SELECT min(_ord) FROM stage WHERE {KEPT} GROUP BY {spec.key}))")
    for code, _ in spec.flags:
        for file_index, count in con.execute(
            f"SELECT _file, count(*) FROM stage WHERE {first} AND _flag_{code} GROUP BY _file"
        ).fetchall():
            account.files[file_index].flag(code, count)
    for file_index, code, count in con.execute(
        "SELECT _file, code, count(*) FROM (SELECT _file, unnest(_flags) AS code FROM stage "
        "WHERE _reason IS NULL AND _counted AND _flags IS NOT NULL) GROUP BY ALL"
    ).fetchall():
        account.files[file_index].flag(code, count)
    for entry in account.for_table(spec.table):
        entry.loaded = entry.rows_in - entry.merged - entry.quarantined
