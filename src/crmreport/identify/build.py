"""The cleaning SQL per canonical table and the bookkeeping that accounts for every row."""

from __future__ import annotations

from dataclasses import dataclass, field

from crmreport.engine import Connection
from crmreport.identify import normalise as n
from crmreport.identify.lane import Lane, settle, strictly_ordered
from crmreport.ingest import RawPart, Sources, release_raw
from crmreport.ingest.account import Account
from crmreport.ingest.presets.base import META_TYPES
from crmreport.tables import TABLES
from crmreport.vocabulary import in_list

# Each table is staged under this name with its canonical columns first, then bookkeeping;
# the stage becomes the table itself (bookkeeping dropped) unless rows must be merged.
STAGE = "stage"
META = {"_file": "INTEGER", **META_TYPES}  # _reason holds the verdict once staged
KEPT = "_reason IS NULL AND _merge IS NULL"


@dataclass(frozen=True)
class Spec:
    """How a table's raw parts become the canonical table.

    ``values``, ``columns``, ``checks`` and ``flags`` are SQL over one row of raw text, judged
    in the one pass that stages a part: no subqueries there, since a join would not keep file
    order. ``values`` are parsed once per row and named (``v_...``) for the others to use.
    What needs other rows or tables is judged afterwards over the staged, typed columns
    (``against`` and ``across``).
    """

    table: str
    columns: dict[str, str]  # canonical column -> SQL over the raw row and values
    checks: list[tuple[str, str]]  # (reason code, SQL true when the row must be quarantined)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (code, SQL) on loaded rows
    against: list[tuple[str, str]] = field(default_factory=list)  # checks over staged rows
    across: list[tuple[str, str]] = field(default_factory=list)  # flags over staged rows
    key: str | None = None  # duplicates on this key are merged into the first row
    # Columns merged by their own aggregate instead of "first non-empty value".
    merge: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # v_name -> SQL over the raw row
    lane: Lane | None = None  # how a clean plain file skips staging (see ``lane``)


def build_tables(con: Connection, sources: Sources, currency: str) -> None:
    """Create customers, orders, order_lines, suppressions and contacts; fill in the account."""
    con.execute("CREATE OR REPLACE TABLE quarantine (tbl VARCHAR, _file INTEGER, _row BIGINT, "
                "line BIGINT, reason VARCHAR, data VARCHAR)")
    for spec in _specs(currency):
        _settle(con, sources, spec)
    _rejects(con, sources.account)  # known once every file has been read
    release_raw(con)  # the staged text is no longer needed: free its memory


def _rejects(con: Connection, account: Account) -> None:
    """Rows the parser rejected (counted when their file was read) go to the quarantine file
    as written."""
    con.execute("""INSERT INTO quarantine SELECT NULL, _file, NULL, line,
                   CASE WHEN error = 'INVALID ENCODING' THEN 'wrong_encoding'
                   ELSE 'malformed_row' END, csv_line FROM raw_rejects ORDER BY _file, line""")
    for entry, index in ((e, i) for i, e in enumerate(account.files)):
        con.execute("UPDATE quarantine SET tbl = ? WHERE _file = ? AND tbl IS NULL",
                    [entry.table, index])


def _specs(currency: str) -> list[Spec]:
    return [_customers(), _orders(currency), _order_lines(), _suppressions(), _contacts()]


def _customers() -> Spec:
    return Spec(
        table="customers",
        values={"v_id": n.text("customer_id"), "v_email": n.email("email"),
                "v_country": n.country("country"), "v_signup": n.date("signup_date")},
        columns={
            "customer_id": "v_id",
            "email": f"CASE WHEN {n.valid_email('v_email')} THEN v_email END",
            **{c: n.text(c) for c in ("salutation", "first_name", "last_name", "company",
                                      "street", "city", "locale")},
            "postal_code": n.postal_code("postal_code"),
            "country": "v_country",
            "signup_date": "v_signup",
            "email_consent": n.consent("email_consent"),
            "mail_objection": n.flag("mail_objection"),
        },
        checks=[
            ("missing_customer_id", "v_id IS NULL"),
            ("mangled_customer_id", n.mangled_id("v_id")),
        ],
        flags=[
            ("invalid_email", f"v_email IS NOT NULL AND NOT {n.valid_email('v_email')}"),
            ("unrecognised_consent", n.unrecognised_consent("email_consent")),
            ("bad_signup_date", f"{n.text('signup_date')} IS NOT NULL AND v_signup IS NULL"),
            ("unknown_country", f"{n.text('country')} IS NOT NULL AND v_country IS NULL"),
            ("test_customer", n.test_record("v_email", "first_name", "last_name")),
        ],
        # The same address on two customer ids: both kept, neither merged by guesswork.
        across=[("shared_email", f"email IN (SELECT email FROM {STAGE} WHERE {KEPT} GROUP BY "
                                 "email HAVING count(DISTINCT customer_id) > 1)")],
        key="customer_id",
        # Permission is never assembled from different rows: any objection counts, and email
        # consent is 'yes' only if the row giving the address says so and no row says no.
        merge={
            "mail_objection": "bool_or(mail_objection)",
            "email_consent": "CASE WHEN bool_or(email_consent = 'no') THEN 'no' ELSE "
                             "coalesce(arg_min(email_consent, rowid) FILTER (WHERE email IS NOT "
                             "NULL), 'unknown') END",
        },
    )


def _orders(currency: str) -> Spec:
    across = [("unknown_customer", "customer_id NOT IN (SELECT customer_id FROM customers)")]
    return Spec(
        table="orders",
        values={
            "v_id": n.text("order_id"),
            "v_customer": n.text("customer_id"),
            "v_day": f"coalesce({n.date('order_date')}, {n.date('ordered_at')})",
            "v_amount": n.decimal("amount"),
            "v_currency": f"coalesce(upper({n.text('currency')}), '{currency}')",
            "v_status": n.mapped("status", n.STATUS),
        },
        columns={
            "order_id": "v_id",
            "customer_id": "v_customer",
            "ordered_at": f"coalesce({n.timestamp('ordered_at')}, CAST(v_day AS TIMESTAMPTZ))",
            "order_date": "v_day",
            "amount": "v_amount",
            "currency": "v_currency",
            "status": "coalesce(v_status, 'completed')",
            "channel": f"lower({n.text('channel')})",
        },
        checks=[
            ("missing_order_id", "v_id IS NULL"),
            ("mangled_customer_id", n.mangled_id("v_customer")),
            ("bad_order_date", "v_day IS NULL"),
            ("bad_amount", "v_amount IS NULL"),
            ("unknown_status", f"v_status IS NULL AND {n.text('status')} IS NOT NULL"),
            ("other_currency", f"v_currency <> '{currency}'"),
        ],
        # An empty status is read as completed, and shown.
        flags=[("guest_order", "v_customer IS NULL"),
               ("missing_status", f"v_status IS NULL AND {n.text('status')} IS NULL")],
        across=across,
        key="order_id",
        lane=Lane(
            types={"ordered_at": "TIMESTAMPTZ", "order_date": "DATE", "amount": "DECIMAL(18,2)"},
            # Text as staging makes it. A missing timestamp is the order's day, as staged; the
            # day itself must be given (staging would take the timestamp's day as written,
            # which the typed value lost).
            columns={"order_id": n.text("order_id"), "customer_id": n.text("customer_id"),
                     "ordered_at": "coalesce(ordered_at, CAST(order_date AS TIMESTAMPTZ))",
                     "currency": f"coalesce(currency, '{currency}')",
                     "channel": f"lower({n.text('channel')})"},
            clean=[
                "order_id IS NOT NULL AND order_date IS NOT NULL AND amount IS NOT NULL",
                f"currency = '{currency}' AND coalesce(status IN ({in_list(tuple(n.STATUS))}), "
                "true)",
                # the pattern only where it could match: ids starting with a digit
                f"NOT coalesce(CASE WHEN customer_id < ':' THEN "
                f"{n.mangled_id('customer_id')} END, false)",
            ],
            flags=[("guest_order", "customer_id IS NULL")],
            filled={"status": ("'completed'", "missing_status")},
        ),
    )


def _order_lines() -> Spec:
    return Spec(
        table="order_lines",
        values={"v_id": n.text("order_id"), "v_quantity": n.text("quantity")},
        columns={
            "order_id": "v_id",
            "sku": n.text("sku"),
            "product": n.text("product"),
            "category": f"lower({n.text('category')})",
            "quantity": "coalesce(TRY_CAST(v_quantity AS INTEGER), 1)",
            "unit_price": n.decimal("unit_price"),
        },
        checks=[("missing_order_id", "v_id IS NULL")],
        against=[("unknown_order", "order_id NOT IN (SELECT order_id FROM orders)")],
        # An empty quantity means one item; one that is not a whole number is shown, not hidden.
        flags=[("bad_quantity", "v_quantity IS NOT NULL AND "
                                "TRY_CAST(v_quantity AS INTEGER) IS NULL")],
        lane=Lane(
            types={"quantity": "INTEGER", "unit_price": "DECIMAL(18,2)"},
            columns={**{c: n.text(c) for c in ("order_id", "sku", "product")},
                     "category": f"lower({n.text('category')})",
                     "quantity": "coalesce(quantity, 1)"},
            clean=["order_id IS NOT NULL"],
        ),
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


def _settle(con: Connection, sources: Sources, spec: Spec) -> None:
    """Stage, quarantine, merge and type one table, recording each step per source file.

    Order of judgement per row: a preset's quarantine reason, a preset's merge (the row's
    data is held by another row), the table's checks; then duplicates of the key merge into
    the first row by file order. The staged rows are in file order (parts are stored one
    after another, each in its file's order), so a row's rowid is its place in that order.
    """
    if spec.lane is not None and settle(con, sources, spec, spec.lane):
        return
    columns = ", ".join(f"{name} {kind}" for name, kind in _stage_types(spec).items())
    con.execute(f"CREATE OR REPLACE TABLE {STAGE} ({columns})")
    starts: dict[int, int] = {}  # file -> rowid of its first staged row
    stored = 0
    for part in sources.parts[spec.table]:
        starts[part.file] = stored
        stored += sources.scan(con, part, f"INSERT INTO {STAGE} {_stage_select(spec, part)}")
    _check_counted(con, sources.account, spec.table)
    if stored:  # a check against another table reads all of that table
        for code, sql in spec.against:
            _judge(con, spec, code, sql)
    if starts:
        _quarantine(con, spec, starts)
    dups = _duplicates(con, spec)
    _count(con, sources.account, spec, dups)
    _finish(con, spec, dups)


def _stage_types(spec: Spec) -> dict[str, str]:
    return {**TABLES[spec.table], **META, **{f"_flag_{c}": "BOOLEAN" for c, _ in spec.flags},
            "_raw": "VARCHAR"}


def _stage_select(spec: Spec, part: RawPart) -> str:
    """One pass over a part: typed columns, the verdict, flags, and a quarantined row's values
    as written (JSON), in the stage's column order."""
    types = TABLES[spec.table]
    columns = ", ".join(f"CAST({spec.columns[name]} AS {kind})" for name, kind in types.items())
    reason = " ".join(f"WHEN {sql} THEN '{code}'" for code, sql in spec.checks)
    flags = "".join(f", ({sql})" for _, sql in spec.flags)
    # A transform's windows may move rows; projections of one scan keep them in file order.
    order = " ORDER BY _row" if part.reordered else ""
    values = "".join(f", {sql} AS {name}" for name, sql in spec.values.items())
    meta = ", ".join("_why" if name == "_reason" else name for name in META)
    return f"""SELECT {columns}, {meta} {flags},
        CASE WHEN _why IS NOT NULL AND _counted THEN {_json(types)} END
        FROM (SELECT *, CASE WHEN _reason IS NOT NULL THEN _reason
                             WHEN _merge IS NOT NULL THEN NULL {reason} END AS _why
              FROM (SELECT *{values} FROM ({part.select}))){order}"""


def _json(columns: dict[str, str]) -> str:
    """A row's values as JSON text under canonical names."""
    return "json_object(" + ", ".join(f"'{c}', {c}::VARCHAR" for c in columns) + ")::VARCHAR"


def _judge(con: Connection, spec: Spec, code: str, sql: str) -> None:
    """Quarantine staged rows that fail a check against other rows or tables; their values
    are shown as staged (the raw text is kept only for rows quarantined in the pass)."""
    con.execute(f"UPDATE {STAGE} SET _reason = '{code}', _raw = {_json(TABLES[spec.table])} "
                f"WHERE {KEPT} AND ({sql})")


def _check_counted(con: Connection, account: Account, table: str) -> None:
    """Every stored row of a file is counted once, in its declared table (a self-check)."""
    for index, count in con.execute(
        f"SELECT _file, count(*) FROM {STAGE} WHERE _counted GROUP BY _file"
    ).fetchall():
        entry = account.files[index]
        expected = entry.rows_in - entry.reasons.get("malformed_row", 0) - \
            entry.reasons.get("wrong_encoding", 0)
        if entry.table != table or count != expected:
            raise AssertionError(f"{entry.path}: {count} rows counted in {table}, "
                                 f"expected {expected} in {entry.table}")


def _quarantine(con: Connection, spec: Spec, starts: dict[int, int]) -> None:
    # A lazily read file has no row numbers of its own: its rows are numbered by position.
    first = " ".join(f"WHEN {index} THEN {start}" for index, start in starts.items())
    con.execute(f"""INSERT INTO quarantine
        SELECT '{spec.table}', _file, coalesce(_row, rowid + 1 - CASE _file {first} END), NULL,
               _reason, _raw
        FROM {STAGE} WHERE _reason IS NOT NULL AND _counted ORDER BY rowid""")


def _duplicates(con: Connection, spec: Spec) -> bool:
    """Collect the keys held by more than one kept row; True when there are any."""
    if spec.key is None or strictly_ordered(con, STAGE, spec.key, KEPT):
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE stage_dups AS SELECT {spec.key} FROM {STAGE}
                    WHERE {KEPT} GROUP BY {spec.key} HAVING count(*) > 1""")
    rows = con.execute("SELECT count(*) FROM stage_dups").fetchall()
    return bool(rows and rows[0][0])


def _finish(con: Connection, spec: Spec, dups: bool) -> None:
    """The stage becomes the table: kept rows, canonical columns; duplicates merged."""
    con.execute(f"DROP TABLE IF EXISTS {spec.table}")
    if dups:
        con.execute(f"CREATE TABLE {spec.table} AS {_merged_select(spec)}")
        con.execute(f"DROP TABLE {STAGE}")
        con.execute("DROP TABLE stage_dups")
        return
    con.execute(f"DELETE FROM {STAGE} WHERE NOT ({KEPT})")
    for column in [c for c in _stage_types(spec) if c not in TABLES[spec.table]]:
        con.execute(f"ALTER TABLE {STAGE} DROP COLUMN {column}")
    con.execute(f"ALTER TABLE {STAGE} RENAME TO {spec.table}")


def _merged_select(spec: Spec) -> str:
    types = TABLES[spec.table]
    key = spec.key
    assert key is not None
    plain = ", ".join(types)
    merged = ", ".join(
        c if c == key
        else f"CAST({spec.merge.get(c, f'arg_min({c}, rowid) FILTER (WHERE {c} IS NOT NULL)')} "
             f"AS {t}) AS {c}"
        for c, t in types.items()
    )
    return (f"SELECT * EXCLUDE (_o) FROM ("
            f"SELECT {plain}, rowid AS _o FROM {STAGE} WHERE {KEPT} "
            f"AND {key} NOT IN (SELECT {key} FROM stage_dups) "
            f"UNION ALL SELECT {merged}, min(rowid) AS _o FROM {STAGE} WHERE {KEPT} "
            f"AND {key} IN (SELECT {key} FROM stage_dups) GROUP BY {key}) ORDER BY _o")


def _count(con: Connection, account: Account, spec: Spec, dups: bool) -> None:
    for file_index, code, count in con.execute(
        f"SELECT _file, _reason, count(*) FROM {STAGE} WHERE _reason IS NOT NULL AND _counted "
        "GROUP BY ALL"
    ).fetchall():
        account.files[file_index].quarantine(code, count)
    for file_index, code, count in con.execute(
        f"SELECT _file, _merge, count(*) FROM {STAGE} WHERE _reason IS NULL AND _merge IS NOT "
        "NULL AND _counted GROUP BY ALL"
    ).fetchall():
        account.files[file_index].merge(code, count)
    if dups:
        for file_index, code, count in con.execute(
            f"""SELECT _file, coalesce(_dup, 'duplicate_{spec.key}'), count(*) FROM (
                SELECT _file, _dup, _counted, row_number() OVER
                (PARTITION BY {spec.key} ORDER BY rowid) AS k FROM {STAGE} WHERE {KEPT}
                AND {spec.key} IN (SELECT {spec.key} FROM stage_dups))
                WHERE k > 1 AND _counted GROUP BY ALL"""
        ).fetchall():
            account.files[file_index].merge(code, count)
    first = (f"{KEPT} AND _counted" if not dups else
             f"{KEPT} AND _counted AND ({spec.key} NOT IN (SELECT {spec.key} FROM stage_dups) "
             f"OR rowid IN (SELECT min(rowid) FROM {STAGE} WHERE {KEPT} GROUP BY {spec.key}))")
    judged = [(code, f"_flag_{code}") for code, _ in spec.flags] + spec.across
    for code, sql in judged:
        for file_index, count in con.execute(
            f"SELECT _file, count(*) FROM {STAGE} WHERE {first} AND ({sql}) GROUP BY _file"
        ).fetchall():
            account.files[file_index].flag(code, count)
    for file_index, code, count in con.execute(
        f"SELECT _file, code, count(*) FROM (SELECT _file, unnest(_flags) AS code FROM {STAGE} "
        "WHERE _reason IS NULL AND _counted AND _flags IS NOT NULL) GROUP BY ALL"
    ).fetchall():
        account.files[file_index].flag(code, count)
    for entry in account.for_table(spec.table):
        entry.loaded = entry.rows_in - entry.merged - entry.quarantined
