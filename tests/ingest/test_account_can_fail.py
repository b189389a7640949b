"""The account of every input row can fail: rows_in is counted apart from the parser and
loaded from the stored tables, so a lost row shows. A corpus of broken files, each held to
TRUE counts the test computes itself (Python's csv module, or the rows it wrote): either
refused with the line named, or an account whose rows_in is the true count and balances."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport.account import Account
from crmreport.cli import main
from crmreport.engine import Connection, connect
from crmreport.errors import DataError
from crmreport.identify import identify_tables
from crmreport.identify import staging as staging_module
from crmreport.ingest import SourceFile, load_sources, readers

HEADERS = {
    "customers": "customer_id,email,first_name",
    "orders": "order_id,customer_id,order_date,amount,currency,status",
    "contacts": "run_id,campaign,customer_id,contacted_at,channel,test_group",
}


def row(table: str, i: int) -> str:
    if table == "customers":
        return f"C{i:06d},c{i}@example.de,Anna"
    if table == "orders":
        return f"O{i:06d},C{i % 500:06d},2024-03-{i % 28 + 1:02d},{i % 90 + 1}.50,EUR,completed"
    return f"r1,spring,C{i:06d},2024-03-01,email,{'control' if i % 10 == 0 else 'treatment'}"


def lines(table: str, count: int) -> list[str]:
    return [HEADERS[table]] + [row(table, i) for i in range(1, count + 1)]


def true_rows(path: Path, encoding: str = "utf-8-sig") -> int:
    """Data records as Python's csv module reads the file: non-blank records below the header."""
    with path.open(encoding=encoding, newline="") as handle:
        return sum(1 for record in csv.reader(handle) if record) - 1


def load(path: Path, table: str, con: Connection | None = None) -> Account:
    con = con or connect()
    staged = load_sources(con, [SourceFile(table, path)])
    identify_tables(con, staged, "EUR")
    return staged.account


def stored(con: Connection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def refused_at(path: Path, table: str, line: int, needle: str) -> str:
    with pytest.raises(DataError) as info:
        load(path, table)
    message = str(info.value)
    assert str(path) in message and f"line {line:,}:" in message and needle in message
    return message


# --- unterminated quotes: refused with the quote's line, never a shortened file -------------

QUOTE_AT = {"top": 5, "middle": 30_000, "end": 60_000}


@pytest.mark.parametrize("table", sorted(HEADERS))
@pytest.mark.parametrize("where", sorted(QUOTE_AT))
def test_unterminated_quote_is_refused_with_its_line(tmp_path: Path, table: str,
                                                     where: str) -> None:
    text = lines(table, 60_000)
    broken = QUOTE_AT[where]
    text[broken] = text[broken].replace(",", ',"', 1)  # opens a quote on that data row
    path = tmp_path / f"{table}.csv"
    path.write_text("\n".join(text) + "\n")
    message = refused_at(path, table, broken + 1, "never closed")  # + 1: the header line
    assert "encoding" not in message


# --- files read to the end: rows_in is the true count, loaded is counted in the table ------

def _ragged(table: str) -> list[str]:
    text = lines(table, 20_000)
    for at in (7, 12_345, 20_000):  # in the sniffed head, past it, the last row
        text[at] += ",extra"
    return text


def _multiline(table: str) -> list[str]:
    text = lines(table, 20_000)
    for at in (3, 15_000):  # quoted values spanning lines, with doubled quotes, are one row
        first, rest = text[at].split(",", 1)
        text[at] = f'{first},"{rest.split(",", 1)[0]}\nsecond ""line"""' + \
            ("," + rest.split(",", 1)[1] if "," in rest else "")
    return text


def _blank_lines(table: str) -> list[str]:
    text = lines(table, 20_000)
    text.insert(9_000, "")
    text.insert(100, "")
    return text


READABLE: dict[str, tuple[Callable[[str], list[str]], str, str]] = {
    # name: (lines, line end, encoding)
    "ragged": (_ragged, "\n", "utf-8"),
    "multiline": (_multiline, "\n", "utf-8"),
    "blank_lines": (_blank_lines, "\n", "utf-8"),
    "bom_crlf": (lambda t: lines(t, 20_000), "\r\n", "utf-8-sig"),
    "cp1252": (lambda t: [x.replace("Anna", "Jürgen") for x in lines(t, 20_000)], "\n",
               "cp1252"),
    "utf16": (lambda t: lines(t, 3_000), "\n", "utf-16"),
    "no_final_line_end": (lambda t: lines(t, 20_000), "", "utf-8"),
}


@pytest.mark.parametrize("table", sorted(HEADERS))
@pytest.mark.parametrize("name", sorted(READABLE))
def test_read_to_the_end_and_balanced(tmp_path: Path, table: str, name: str) -> None:
    make, end, encoding = READABLE[name]
    path = tmp_path / f"{table}.csv"
    body = (end or "\n").join(make(table)) + end
    path.write_bytes(body.encode(encoding))
    truth = true_rows(path, "utf-16" if encoding == "utf-16" else
                      "cp1252" if encoding == "cp1252" else "utf-8-sig")
    con = connect()
    entry = load(path, table, con).files[0]
    assert entry.rows_in == truth
    assert entry.balanced
    assert entry.loaded == stored(con, table)
    if name == "ragged":
        assert entry.reasons["malformed_row"] == 3


def test_gzip_is_counted_to_the_end(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "customers.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines("customers", 30_000)) + "\n").encode()))
    entry = load(path, "customers").files[0]
    assert (entry.rows_in, entry.loaded, entry.balanced) == (30_000, 30_000, True)


# --- mixed line endings and \" escapes: refused with the line --------------------------------

@pytest.mark.parametrize("at", [6, 15_000])
def test_mixed_line_endings_name_the_line(tmp_path: Path, at: int) -> None:
    text = lines("customers", 20_000)
    body = "".join(line + ("\n" if number == at else "\r\n")
                   for number, line in enumerate(text, start=1))
    path = tmp_path / "customers.csv"
    path.write_bytes(body.encode())
    refused_at(path, "customers", at, "mixed line endings")  # line `at` ends with LF alone


@pytest.mark.parametrize("at", [3, 15_000])
def test_backslash_escaped_quotes(tmp_path: Path, at: int) -> None:
    """Refused with the line and the fix, or (where the parser only rejects that line) the
    line quarantined and the account balanced against the true count."""
    text = lines("customers", 20_000)
    text[at] = text[at].replace("Anna", '"Anna \\"Annie\\" B."')
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(text) + "\n")
    con = connect()
    try:
        entry = load(path, "customers", con).files[0]
    except DataError as exc:
        assert f"line {at + 1:,}:" in str(exc) and "backslash" in str(exc)
        return
    assert entry.rows_in == 20_000 and entry.balanced
    assert entry.loaded == stored(con, "customers")


# --- truncated, empty -------------------------------------------------------------------------

@pytest.mark.parametrize("tail", ['C999999,"c@exam', "C999999,c@exam"])
def test_truncated_last_line_is_refused(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines("customers", 20_000)) + "\n" + tail)
    with pytest.raises(DataError, match="truncated") as info:
        load(path, "customers")
    assert str(path) in str(info.value)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load(path, "customers")


# --- the account can fail -------------------------------------------------------------------

def _dropping_reader(monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
    """A parser that silently loses the row whose first field is ``lost``."""
    original = readers._csv_view

    def view(con: Connection, source: str, table: str, delimiter: str, skip: int) -> None:
        original(con, source, table, delimiter, skip)
        if not source.endswith("customers.csv"):
            return
        con.execute(f"CREATE OR REPLACE TABLE {table}_all AS SELECT * FROM {table}")
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {table}_all "
                    f"WHERE customer_id IS DISTINCT FROM '{lost}'")

    monkeypatch.setattr(readers, "_csv_view", view)


def test_a_row_lost_by_the_parser_unbalances_the_account(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines("customers", 1_000)) + "\n")
    _dropping_reader(monkeypatch, "C000500")
    entry = load(path, "customers").files[0]
    assert (entry.rows_in, entry.loaded, entry.balanced) == (1_000, 999, False)
    assert entry.unread_line == 501  # C000500 is on line 501 (the header is line 1)
    message = entry.imbalance()
    assert message is not None and str(path) in message and "line 501" in message


def test_a_row_lost_after_parsing_unbalances_the_account(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines("customers", 1_000)) + "\n")
    original = staging_module._finish

    def finish(con: Connection, spec: staging_module.Spec, dups: bool) -> None:
        original(con, spec, dups)
        con.execute(f"DELETE FROM {spec.table} WHERE rowid = 10")

    monkeypatch.setattr(staging_module, "_finish", finish)
    monkeypatch.setattr(staging_module, "settle", lambda *args: False)  # stage, no lane
    entry = load(path, "customers").files[0]
    assert (entry.rows_in, entry.loaded, entry.balanced) == (1_000, 999, False)


def test_check_exits_1_naming_the_file_when_a_row_is_lost(shop: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    customers = shop / "customers.csv"
    with customers.open(newline="") as handle:
        records = list(csv.reader(handle))
    lost = records[2][0]  # the second data row, on line 3
    _dropping_reader(monkeypatch, lost)
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")])
    assert result.exit_code == 1
    assert "customers.csv: the account does not balance" in result.stderr
    assert "line 3" in result.stderr
    good = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")])
    assert good.exit_code == 1  # still patched: the check fails every time, not by chance
    monkeypatch.undo()
    assert CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")]).exit_code == 0


# --- other formats: their readers' own counts -------------------------------------------------

def test_parquet_and_json_counts(tmp_path: Path) -> None:
    con = connect()
    parquet = tmp_path / "customers.parquet"
    con.execute(f"COPY (SELECT 'C' || i AS customer_id, 'x' || i || '@example.de' AS email "
                f"FROM range(5000) t(i)) TO '{parquet}' (FORMAT parquet)")
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("".join(f'{{"customer_id": "J{i}", "email": "q\\"{i}@x.de"}}\n\n'
                             for i in range(700)))
    account = load_two(parquet, jsonl)
    assert [f.rows_in for f in account.files] == [5000, 700]
    assert all(f.balanced for f in account.files)


def load_two(*paths: Path) -> Account:
    con = connect()
    staged = load_sources(con, [SourceFile("customers", p) for p in paths])
    identify_tables(con, staged, "EUR")
    return staged.account


# --- two-digit years --------------------------------------------------------------------------

def test_two_digit_years_are_quarantined_never_year_00xx(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\nO1,C1,01.03.23,5\n"
                      "O2,C1,23-03-01,5\nO3,C1,01.03.2023,5\nO4,C1,2023-03-01,5\n")
    con = connect()
    entry = load(orders, "orders", con).files[0]
    assert entry.reasons == {"two_digit_year": 2}
    assert (entry.rows_in, entry.loaded, entry.balanced) == (4, 2, True)
    years = con.execute("SELECT DISTINCT year(order_date) FROM orders").fetchall()
    assert years == [(2023,)]


def test_csv_module_agrees_with_the_generator() -> None:
    """The helper's truth is the rows written, for a file with nothing odd in it."""
    text = "\n".join(lines("orders", 10)) + "\n"
    assert sum(1 for r in csv.reader(io.StringIO(text)) if r) - 1 == 10


def test_plan_and_build_refuse_data_that_lost_a_row(shop: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with (shop / "customers.csv").open(newline="") as handle:
        lost = list(csv.reader(handle))[2][0]
    _dropping_reader(monkeypatch, lost)
    history = shop / "contacts.csv"
    before = history.read_bytes() if history.exists() else None
    for command in (["plan", str(shop / "campaign.yaml")],
                    ["build", str(shop / "campaign.yaml"), "--out", str(tmp_path / "out")]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, command
        assert "customers.csv: the account does not balance" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing rendered
    assert (history.read_bytes() if history.exists() else None) == before


# --- CDNOW (whitespace-separated): rows_in counted apart from its reader too ----------------

CDNOW = (Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt")


def _cdnow(path: Path) -> tuple[Account, Connection]:
    con = connect()
    staged = load_sources(con, [SourceFile("orders", path, "cdnow")])
    identify_tables(con, staged, "USD")
    return staged.account, con


def test_a_truncated_malformed_cdnow_file_is_counted_to_its_true_rows(tmp_path: Path) -> None:
    lines = CDNOW.read_text().splitlines()[:200]
    lines[50] += " 7"  # a field too many
    lines.insert(120, "\t \t")  # blanks only: no record
    lines.append(lines[-1][:12])  # the last record cut off mid-way, no line end
    path = tmp_path / "CDNOW_sample.txt"
    path.write_text("\n".join(lines))
    true_rows = sum(1 for line in lines if line.split())  # 201: the cut line included
    entry = _cdnow(path)[0].files[0]
    assert (entry.rows_in, entry.balanced) == (true_rows, True) == (201, True)
    assert entry.reasons["malformed_row"] == 2


def test_a_row_lost_by_the_cdnow_reader_unbalances_the_account(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "CDNOW_sample.txt"
    path.write_text("\n".join(CDNOW.read_text().splitlines()[:300]) + "\n")
    original = readers._read_whitespace

    def losing(con: Connection, source: Path, table: str) -> readers.RawRead:
        read = original(con, source, table)
        con.execute(f"DELETE FROM {table} WHERE _row = 150")  # silently, as a bug would
        return read

    monkeypatch.setattr(readers, "_read_whitespace", losing)
    account, _ = _cdnow(path)
    entry = account.files[0]
    assert (entry.rows_in, entry.balanced) == (300, False)
    with pytest.raises(DataError, match=r"CDNOW_sample\.txt: the account does not balance: 300 "
                                        r"rows in the file"):
        account.require_balanced()
