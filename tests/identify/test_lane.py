"""The typed lane must give exactly what staging gives: same table, same order, same account.

Each case is built twice on fresh connections, once as it comes (the lane where it applies)
and once with the lane switched off, and the two results are compared.
"""

import gzip
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crmreport.engine import connect
from crmreport.errors import DataError
from crmreport.identify import identify_tables, lane, staging
from crmreport.ingest import SourceFile, load_sources

SETTLE = staging.settle
CUSTOMERS = "customer_id,email\nC1,a@example.de\nC2,b@example.de\n"
HEADER = "order_id,customer_id,ordered_at,order_date,amount,currency,status,channel\n"
CLEAN = HEADER + """\
O1,C1,2025-01-02T23:30:00+02:00,2025-01-02,10.50,EUR,completed,online
 O2 ,,,2025-01-03,12.345,,cancelled,
O3,C9,2025-01-04 08:00:00,2025-01-04,1e3,EUR,refunded, Store
O4,C2,,2025-01-05T10:00:00+01:00, 7 ,EUR,completed,Online
"0005",C1,2025-01-06 10:00:00 CET, 2025-01-06 ,-0,,completed,phone
"""


def _run(tmp_path: Path, orders: str | bytes, lane: bool, monkeypatch: pytest.MonkeyPatch,
         lines: str | bytes | None = None, name: str = "orders.csv") -> Any:
    """Build from the files; whether the lane read each table, and what was built (or the
    error message). Order lines given as bytes are in the orders file's format."""
    lines_name = "order_lines" + (Path(name).suffix if isinstance(lines, bytes) else ".csv")
    files = {"customers.csv": CUSTOMERS, name: orders, **({lines_name: lines} if lines else {})}
    for file, text in files.items():
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        (tmp_path / file).write_bytes(data)
    used: dict[str, bool] = {}

    def spy(con: Any, sources: Any, spec: Any, how: Any) -> bool:
        used[spec.table] = lane and SETTLE(con, sources, spec, how)
        return used[spec.table]

    monkeypatch.setattr(staging, "settle", spy)
    con = connect()
    tables = ("customers", "orders", "order_lines")[:len(files)]
    sources = load_sources(con, [SourceFile(t, tmp_path / f)
                                 for t, f in zip(tables, files, strict=True)])
    try:
        identify_tables(con, sources, "EUR")
    except DataError as exc:
        return used, str(exc)
    built = [con.execute(f"SELECT * REPLACE (ordered_at::VARCHAR AS ordered_at) FROM {table} "
                         "ORDER BY rowid").fetchall() if table == "orders" else
             con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
             for table in ("orders", "order_lines")]
    quarantine = con.execute("SELECT * FROM quarantine ORDER BY ALL").fetchall()
    return used, (*built, quarantine, [f.as_dict() for f in sources.account.files])


def _both(tmp_path: Path, orders: str | bytes, monkeypatch: pytest.MonkeyPatch,
          lines: str | bytes | None = None,
          name: str = "orders.csv") -> tuple[dict[str, bool], Any]:
    used, result = _run(tmp_path, orders, True, monkeypatch, lines, name)
    unused, staged = _run(tmp_path, orders, False, monkeypatch, lines, name)
    assert staged == result and not any(unused.values())
    return used, result


def test_a_clean_export_takes_the_lane_with_the_same_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used, (rows, _, quarantine, files) = _both(tmp_path, CLEAN, monkeypatch)
    assert used["orders"]
    assert [r[0] for r in rows] == ["O1", "O2", "O3", "O4", "0005"]  # file order, trimmed
    assert str(rows[0][4]) == "10.50" and str(rows[1][4]) == "12.35"  # rounded like staging
    assert quarantine == []
    assert files[1]["loaded"] == 5
    assert files[1]["flags"] == {"guest_order": 1, "unknown_customer": 1}


@pytest.mark.parametrize(("dialect", "name", "lane"), [
    (lambda t: t.replace(",", "\t").encode(), "orders.tsv", True),
    (lambda t: t.replace("\n", "\r\n").encode(), "orders.csv", True),
    (lambda t: b"\xef\xbb\xbf" + t.encode(), "orders.csv", True),
    (lambda t: ("Orders export\nshop: example\n" + t).encode(), "orders.csv", True),
    (lambda t: t.replace("phone", '"phone, fax"').encode(), "orders.csv", True),
    (lambda t: gzip.compress(t.encode()), "orders.csv.gz", True),
    # a ';' file is taken to write decimal commas, which only staging reads
    (lambda t: t.replace(",", ";").encode(), "orders.csv", False),
])
def test_the_lane_reads_what_staging_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           dialect: Any, name: str, lane: bool) -> None:
    used, (rows, *_) = _both(tmp_path, dialect(CLEAN), monkeypatch, name=name)
    assert used["orders"] == lane and len(rows) == 5


@pytest.mark.parametrize("orders", [
    CLEAN + "O9,C1,,2025-01-09,5,EUR,,\n",  # an empty status: completed, and flagged
    CLEAN.replace(",completed,", ",,").replace(",cancelled,", ",,").replace(",refunded,", ",,"),
    "\n".join(line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1]  # no status column
              for line in CLEAN.splitlines()) + "\n",
])
def test_an_empty_status_is_filled_in_and_flagged_in_the_lane(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orders: str) -> None:
    used, (rows, _, _, files) = _both(tmp_path, orders, monkeypatch)
    assert used["orders"] and files[1]["flags"]["missing_status"] >= 1
    assert {r[6] for r in rows} <= {"completed", "cancelled", "refunded"}


@pytest.mark.parametrize("order_ids", [("O3", "O2", "O1"), ("O2", "O10", "O1")])
def test_keys_in_any_order_take_the_lane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         order_ids: tuple[str, ...]) -> None:
    lines = "".join(f"{o},C1,,2025-01-0{i + 1},1,EUR,completed,\n"
                    for i, o in enumerate(order_ids))
    used, (rows, *_) = _both(tmp_path, HEADER + lines, monkeypatch)
    assert used["orders"] and [r[0] for r in rows] == list(order_ids)


@pytest.mark.parametrize("line", [
    "O9,C1,,2025-01-09,5,EUR,Paid,",  # a status staging maps
    "O9,C1,,2025-01-09,5,EUR,lost,",  # a status staging quarantines
    "O9,C1,,2025-01-09,5,eur,completed,",
    "O9,C1,,2025-01-09,5,USD,completed,",
    'O9,C1,,2025-01-09,"1,234.50",EUR,completed,',
    "O9,C1,,2025-01-09,€5,EUR,completed,",
    "O9,C1,,2025-01-09,,EUR,completed,",
    "O9,C1,,31.12.2024,5,EUR,completed,",
    "O9,C1,2025-03-30 23:15:00 +0100,,5,EUR,completed,",  # the day from the timestamp
    "O9,C1,2025-01-09T23:30:00-05:00,,5,EUR,completed,",  # as written, not in UTC
    "O9,C1,yesterday,2025-01-09,5,EUR,completed,",
    "O1,C1,,2025-01-09,5,EUR,completed,",  # a repeated order id
    "O9,1.67E+13,,2025-01-09,5,EUR,completed,",
    ",C1,,2025-01-09,5,EUR,completed,",
    "O9,C1,,2025-01-09,5,EUR,completed,,extra",  # ragged
    "O9,C\udce9,,2025-01-09,5,EUR,completed,",  # a cp1252 byte in a UTF-8 file
])
def test_a_row_staging_would_change_sends_the_file_through_staging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    used, _ = _both(tmp_path, CLEAN + line + "\n", monkeypatch)
    assert not used["orders"]


def test_a_header_only_export_is_refused_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used, message = _both(tmp_path, HEADER, monkeypatch)
    assert not used["orders"] and "header but no data rows" in message


LINES = """\
order_id,sku,product,category,quantity,unit_price
O1,A-1, Mug ,Kitchen,2,4.50
O1,A-2,Plate,kitchen,,3
O3,B-7,,Garden, 2.5 ,1e1
"""


def test_order_lines_of_known_orders_take_the_lane(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used, (_, lines, quarantine, _) = _both(tmp_path, CLEAN, monkeypatch, LINES)
    assert used == {"orders": True, "order_lines": True}
    assert [(r[2], r[3], r[4]) for r in lines] == [("Mug", "kitchen", 2), ("Plate", "kitchen", 1),
                                                    (None, "garden", 3)]
    assert quarantine == []


@pytest.mark.parametrize("line", ["O9,A-1,Mug,kitchen,1,1", ",A-1,Mug,kitchen,1,1",
                                  "O1,A-1,Mug,kitchen,two,1", "O1,A-1,Mug,kitchen,1,€1"])
def test_an_order_line_staging_would_change_sends_the_lines_through_staging(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    used, _ = _both(tmp_path, CLEAN, monkeypatch, LINES + line + "\n")
    assert used == {"orders": True, "order_lines": False}


def _parquet(tmp_path: Path, csv: str, types: dict[str, str] | None = None) -> bytes:
    """The CSV as a Parquet file: its columns text, or typed by ``types`` (native DATE,
    TIMESTAMP, DOUBLE ... as a database export writes them)."""
    (tmp_path / "source.csv").write_text(csv)
    con = duckdb.connect()
    read = f"read_csv('{tmp_path / 'source.csv'}', all_varchar = true)"
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()]
    columns = ", ".join(f'CAST("{n}" AS {(types or {}).get(n, "VARCHAR")}) AS "{n}"'
                        for n in names)
    con.execute(f"COPY (SELECT {columns} FROM {read}) TO '{tmp_path / 'source.parquet'}' "
                "(FORMAT parquet)")
    return (tmp_path / "source.parquet").read_bytes()


TYPED = HEADER + """\
O1,C1,2025-01-02 23:30:00,2025-01-02,10.5,EUR,completed,online
O2,,,2025-01-03,12.345,,cancelled,
O3,C9,2025-01-04 08:00:00,2025-01-04,1000.125,EUR,refunded,Store
"""
NATIVE = {"ordered_at": "TIMESTAMP", "order_date": "DATE", "amount": "DOUBLE"}


@pytest.mark.parametrize(("orders", "types", "lane"), [
    (CLEAN, None, True),  # every column text, as written
    (TYPED, NATIVE, True),
    (TYPED, {**NATIVE, "amount": "DECIMAL(18,3)"}, True),
    (CLEAN + "O9,C1,,31.12.2024,5,EUR,completed,\n", None, False),  # a date staging parses
    (CLEAN + "O1,C1,,2025-01-09,5,EUR,completed,\n", None, False),  # a repeated order id
])
def test_a_parquet_export_takes_the_lane_as_a_csv_export_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orders: str,
        types: dict[str, str] | None, lane: bool) -> None:
    data, lines = _parquet(tmp_path, orders, types), _parquet(tmp_path, LINES)
    used, (rows, lines_built, _, files) = _both(tmp_path, data, monkeypatch, lines,
                                                name="orders.parquet")
    assert used == {"orders": lane, "order_lines": True}
    entry = files[1]
    assert entry["rows_in"] == len(orders.splitlines()) - 1 == len(rows) + entry["merged"] + \
        entry["quarantined"]
    assert [r[4] for r in lines_built] == [2, 1, 3]  # 2.5 rounded as staging rounds it


def _in_order(keys: list[str]) -> bool:
    """The reference: some order holds between every two neighbours (ASCII keys)."""
    orders = [lambda p, k: k > p, lambda p, k: k < p,
              lambda p, k: (len(k), k) > (len(p), p), lambda p, k: (len(k), k) < (len(p), p)]
    return any(all(o(p, k) for p, k in pairwise(keys)) for o in orders)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_strictly_ordered_checks_every_neighbouring_pair_of_kept_rows(threads: int) -> None:
    rising = [f"#{i}" for i in (7, 8, 9, 10, 11, 99, 100, 101, 990)]
    cases = [[], rising[:1], rising, rising[::-1], sorted(rising), sorted(rising)[::-1]]
    for i in range(len(rising) - 1):  # a break or a repeat at each place, slice ends included
        cases += [rising[:i] + rising[i:i + 2][::-1] + rising[i + 2:],
                  rising[:i + 1] + rising[i:i + 1] + rising[i + 1:]]
    con = connect(threads=threads)
    for keys in cases:
        for junk in range(len(keys) + 1):  # a row left out (not kept) goes anywhere
            rows = [(k, True) for k in keys]
            rows.insert(junk, ("#0", False))
            con.execute("CREATE OR REPLACE TABLE t AS SELECT unnest(?) AS id, unnest(?) AS kept",
                        [[r[0] for r in rows], [r[1] for r in rows]])
            assert lane.strictly_ordered(con, "t", "id", "kept") == _in_order(keys), (keys, junk)
