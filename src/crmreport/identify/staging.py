"""The staging engine: each table's raw parts read once into a staging table, judged by its
cleaning rules (``cleaning``), and settled into the canonical table, with every input row
counted in the account as loaded, merged or quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crmreport.account import Account
from crmreport.engine import Connection
from crmreport.identify import persons
from crmreport.identify.cleaning import specs
from crmreport.identify.currency import load_rates, require_campaign_currency
from crmreport.identify.lane import settle, strictly_ordered
from crmreport.identify.spec import KEPT, META, STAGING, Spec
from crmreport.ingest import RawPart, Sources, release_raw
from crmreport.reasons import PARSER_REJECTS, duplicate, parser_reject_sql
from crmreport.tables import (
    CONTACTS,
    CURRENCY_RATES,
    CUSTOMER_IDS,
    CUSTOMERS,
    ORDER_LINES,
    ORDERS,
    QUARANTINE,
    RAW_REJECTS,
    SUPPRESSIONS,
    TABLES,
    Table,
)

# Kept in the finished table until its rows are counted per file (``_count_loaded``).
COUNTED = ("_file", "_counted")


@dataclass(frozen=True)
class Identified:
    """What identify made: the account of every input row, and its tables."""

    account: Account
    tables: tuple[Table, ...]


def identify_tables(con: Connection, sources: Sources, currency: str, *,
                    rates: Path | None = None,
                    match: Sequence[Sequence[str]] = persons.DEFAULT_MATCH) -> Identified:
    """Create the canonical tables, ``customer_ids`` and ``quarantine``; fill in the account.

    Orders in other currencies are converted with ``rates`` when given (see ``currency``);
    data without any order in the campaign's currency is refused. ``match``: the column sets
    that mean the same person (``persons``); () merges none."""
    con.execute(QUARANTINE.create())
    rated = load_rates(con, rates)
    for spec in specs(currency, rated, tuple(tuple(m) for m in match)):
        _settle(con, sources, spec)
    persons.follow(con)
    _rejects(con, sources.account)  # known once every file has been read
    release_raw(con)  # the staged text is no longer needed: free its memory
    require_campaign_currency(con, sources.account, currency)
    return Identified(sources.account, (CUSTOMERS, CUSTOMER_IDS, ORDERS, ORDER_LINES, CONTACTS,
                                        SUPPRESSIONS, CURRENCY_RATES, QUARANTINE))


def _rejects(con: Connection, account: Account) -> None:
    """Rows the parser rejected (counted when their file was read) go to the quarantine file
    as written."""
    con.execute(f"""INSERT INTO {QUARANTINE} SELECT NULL, _file, NULL, line,
                    {parser_reject_sql('error')}, csv_line FROM {RAW_REJECTS}
                    ORDER BY _file, line""")
    tables = " ".join(f"WHEN {index} THEN '{entry.table}'"
                      for index, entry in enumerate(account.files))
    if tables:  # each file's declared table, in one statement
        con.execute(f"UPDATE {QUARANTINE} SET tbl = CASE _file {tables} END WHERE tbl IS NULL")


def _settle(con: Connection, sources: Sources, spec: Spec) -> None:
    """RawFile, quarantine, merge and type one table, recording each step per source file.

    Order of judgement per row: a preset's quarantine reason, a preset's merge (the row's
    data is held by another row), the table's checks; then duplicates of the key merge into
    the first row by file order. The staged rows are in file order (parts are stored one
    after another, each in its file's order), so a row's rowid is its place in that order.
    """
    if spec.lane is not None and settle(con, sources, spec, spec.lane):
        return
    columns = ", ".join(f"{name} {kind}" for name, kind in _staging_types(spec).items())
    con.execute(f"CREATE OR REPLACE TABLE {STAGING} ({columns})")
    starts: dict[int, int] = {}  # file -> rowid of its first staged row
    stored = 0
    for part in sources.parts[spec.table]:
        starts[part.file] = stored
        stored += sources.scan(con, part, f"INSERT INTO {STAGING} {_staging_select(spec, part)}")
    _check_counted(con, sources.account, spec.table)
    if stored:  # a check against another table reads all of that table
        for code, sql in spec.against:
            _judge(con, spec, code, sql)
    if starts:
        _quarantine(con, spec, starts)
    dups = _duplicates(con, spec)
    _count(con, sources.account, spec, dups)
    for sql in spec.convert:
        con.execute(sql)
    if spec.match is not None:
        persons.map_ids(con, STAGING, KEPT, dups)
    _finish(con, spec, dups)
    _count_loaded(con, sources.account, spec.table)


def _staging_types(spec: Spec) -> dict[str, str]:
    person = {persons.PERSON: "VARCHAR"} if spec.match is not None else {}
    return {**TABLES[spec.table], **META, **{f"_flag_{c}": "BOOLEAN" for c, _ in spec.flags},
            "_raw": "VARCHAR", **person}


def _group(spec: Spec) -> str:
    """The column whose duplicates merge: the row's person, or else the key."""
    return persons.PERSON if spec.match is not None else str(spec.key)


def _staging_select(spec: Spec, part: RawPart) -> str:
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
    person = f", CAST({spec.columns[str(spec.key)]} AS VARCHAR)" if spec.match is not None else ""
    return f"""SELECT {columns}, {meta} {flags},
        CASE WHEN _why IS NOT NULL AND _counted THEN {_json(types)} END{person}
        FROM (SELECT *, CASE WHEN _reason IS NOT NULL THEN _reason
                             WHEN _merge IS NOT NULL THEN NULL {reason} END AS _why
              FROM (SELECT *{values} FROM ({part.select}))){order}"""


def _json(columns: Mapping[str, str]) -> str:
    """A row's values as JSON text under canonical names."""
    return "json_object(" + ", ".join(f"'{c}', {c}::VARCHAR" for c in columns) + ")::VARCHAR"


def _judge(con: Connection, spec: Spec, code: str, sql: str) -> None:
    """Quarantine staged rows that fail a check against other rows or tables; their values
    are shown as staged (the raw text is kept only for rows quarantined in the pass)."""
    con.execute(f"UPDATE {STAGING} SET _reason = '{code}', _raw = {_json(TABLES[spec.table])} "
                f"WHERE {KEPT} AND ({sql})")


def _check_counted(con: Connection, account: Account, table: str) -> None:
    """Every row the parser returned is counted once, in its declared table (a self-check;
    rows the parser lost show in the account instead, against rows_in)."""
    for index, count in con.execute(
        f"SELECT _file, count(*) FROM {STAGING} WHERE _counted GROUP BY _file"
    ).fetchall():
        entry = account.files[index]
        expected = entry.parsed - sum(entry.reasons.get(code, 0) for code in PARSER_REJECTS)
        if entry.table != table or count != expected:
            raise AssertionError(f"{entry.path}: {count} rows counted in {table}, "
                                 f"expected {expected} in {entry.table}")


def _quarantine(con: Connection, spec: Spec, starts: dict[int, int]) -> None:
    # A lazily read file has no row numbers of its own: its rows are numbered by position.
    first = " ".join(f"WHEN {index} THEN {start}" for index, start in starts.items())
    con.execute(f"""INSERT INTO {QUARANTINE}
        SELECT '{spec.table}', _file, coalesce(_row, rowid + 1 - CASE _file {first} END), NULL,
               _reason, _raw
        FROM {STAGING} WHERE _reason IS NOT NULL AND _counted ORDER BY rowid""")


def _duplicates(con: Connection, spec: Spec) -> bool:
    """Collect the keys (persons) held by more than one kept row; True when there are any."""
    if spec.key is None:
        return False
    linked = spec.match is not None and persons.link(con, STAGING, KEPT, spec.match)
    if not linked and strictly_ordered(con, STAGING, spec.key, KEPT):
        return False
    group = _group(spec)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE staging_dups AS SELECT {group} FROM {STAGING}
                    WHERE {KEPT} GROUP BY {group} HAVING count(*) > 1""")
    rows = con.execute("SELECT count(*) FROM staging_dups").fetchall()
    return bool(rows and rows[0][0])


def _finish(con: Connection, spec: Spec, dups: bool) -> None:
    """The stage becomes the table: kept rows, canonical columns; duplicates merged."""
    con.execute(f"DROP TABLE IF EXISTS {spec.table}")
    if dups:
        con.execute(f"CREATE TABLE {spec.table} AS {_merged_select(spec)}")
        con.execute(f"DROP TABLE {STAGING}")
        con.execute("DROP TABLE staging_dups")
        return
    con.execute(f"DELETE FROM {STAGING} WHERE NOT ({KEPT})")
    for column in [c for c in _staging_types(spec) if c not in {*TABLES[spec.table], *COUNTED}]:
        con.execute(f"ALTER TABLE {STAGING} DROP COLUMN {column}")
    con.execute(f"ALTER TABLE {STAGING} RENAME TO {spec.table}")


def _count_loaded(con: Connection, account: Account, table: str) -> None:
    """``loaded``: the rows of each file stored in the finished table, counted there (never
    derived from the other counts, so the account can fail); then the file columns go."""
    for file_index, count in con.execute(
        f"SELECT _file, count(*) FROM {table} WHERE _counted GROUP BY _file"
    ).fetchall():
        account.files[file_index].loaded = count
    for column in COUNTED:
        con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _merged_select(spec: Spec) -> str:
    types = TABLES[spec.table]
    key, group = spec.key, _group(spec)
    assert key is not None
    plain = ", ".join(types)
    merged = ", ".join(
        f"{group} AS {c}" if c == key  # the person's id is its first row's
        else f"CAST({spec.merge.get(c, f'arg_min({c}, rowid) FILTER (WHERE {c} IS NOT NULL)')} "
             f"AS {t}) AS {c}"
        for c, t in types.items()
    )
    counted = ", ".join(COUNTED)
    firsts = ", ".join(f"arg_min({c}, rowid) AS {c}" for c in COUNTED)
    return (f"SELECT * EXCLUDE (_o) FROM ("
            f"SELECT {plain}, {counted}, rowid AS _o FROM {STAGING} WHERE {KEPT} "
            f"AND {group} NOT IN (SELECT {group} FROM staging_dups) "
            f"UNION ALL SELECT {merged}, {firsts}, min(rowid) AS _o FROM {STAGING} WHERE {KEPT} "
            f"AND {group} IN (SELECT {group} FROM staging_dups) GROUP BY {group}) ORDER BY _o")


def _count(con: Connection, account: Account, spec: Spec, dups: bool) -> None:
    for file_index, code, count in _by_file(
            con, f"SELECT _file, _reason, count(*) FROM {STAGING} "
                 "WHERE _reason IS NOT NULL AND _counted GROUP BY ALL"):
        account.files[file_index].quarantine(code, count)
    for file_index, code, count in _by_file(
            con, f"SELECT _file, _merge, count(*) FROM {STAGING} "
                 "WHERE _reason IS NULL AND _merge IS NOT NULL AND _counted GROUP BY ALL"):
        account.files[file_index].merge(code, count)
    group = _group(spec)
    if dups:
        _count_merged(con, account, spec)
    # A group's first kept row (a lone row is its group's first). One IN, not an OR of two:
    # Spark joins a subquery under OR row against row, quadratic in the rows.
    first = (f"{KEPT} AND _counted" if not dups else
             f"{KEPT} AND _counted AND rowid IN (SELECT min(rowid) FROM {STAGING} "
             f"WHERE {KEPT} GROUP BY {group})")
    flags = [code for code, _ in spec.flags]
    if flags:  # the flag columns counted in one scan
        counted = ", ".join(f"count(*) FILTER (WHERE _flag_{code})" for code in flags)
        rows = con.execute(
            f"SELECT _file, {counted} FROM {STAGING} WHERE {first} GROUP BY _file").fetchall()
        for place, code in enumerate(flags, start=1):
            for row in rows:
                account.files[row[0]].flag(code, row[place])
    for code, sql in spec.across:  # a check against other rows (a subquery): alone
        for file_index, count in con.execute(
            f"SELECT _file, count(*) FROM {STAGING} WHERE {first} AND ({sql}) GROUP BY _file"
        ).fetchall():
            account.files[file_index].flag(code, count)
    for file_index, code, count in _by_file(
            con, f"SELECT _file, code, count(*) FROM (SELECT _file, unnest(_flags) AS code "
                 f"FROM {STAGING} WHERE _reason IS NULL AND _counted AND _flags IS NOT NULL) "
                 "GROUP BY ALL"):
        account.files[file_index].flag(code, count)


def _by_file(con: Connection, sql: str) -> list[tuple[int, str, int]]:
    """(file index, code, rows) from a query counting staged rows per file and code."""
    return [(int(f), str(code), int(n)) for f, code, n in con.execute(sql).fetchall()]


def _count_merged(con: Connection, account: Account, spec: Spec) -> None:
    """Each row merged into an earlier one: a repeat of its key (its preset's code, else
    duplicate_<key>), or else another record of the same person (same_person)."""
    group = _group(spec)
    for file_index, code, count in _by_file(con,
        f"""SELECT _file, CASE WHEN j > 1 THEN coalesce(_dup, '{duplicate(str(spec.key))}')
                ELSE '{persons.SAME_PERSON}' END, count(*) FROM (
            SELECT _file, _dup, _counted,
                   row_number() OVER (PARTITION BY {group} ORDER BY rowid) AS k,
                   row_number() OVER (PARTITION BY {spec.key} ORDER BY rowid) AS j
            FROM {STAGING} WHERE {KEPT} AND {group} IN (SELECT {group} FROM staging_dups))
            WHERE k > 1 AND _counted GROUP BY ALL"""):
        account.files[file_index].merge(code, count)
