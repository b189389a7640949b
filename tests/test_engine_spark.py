"""The Spark adapter: DuckDB-dialect statements answered by Spark as DuckDB answers them.

Each case runs the same statements on both engines and compares the results; the expected
values are also written out by hand where they are short. Skipped without pyspark.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmreport.engine import Connection, columns, connect, has_table, table_names
from crmreport.engine.translate import UntranslatableError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SETUP = [
    "CREATE OR REPLACE TABLE t (id VARCHAR, amount DECIMAL(18, 2), day DATE)",
    "INSERT INTO t VALUES ('a', 10.50, DATE '2026-01-31'), ('b', NULL, DATE '2026-02-28'), "
    "('c', 3.25, DATE '2026-03-01')",
]


def both(spark_con: Connection, statements: list[str], query: str,
         parameters: object = None) -> tuple[list[Any], list[Any]]:
    """``query``'s rows on DuckDB and on Spark, after the same ``statements`` on each."""
    duck = connect(kind="duckdb")
    answers = []
    for con in (duck, spark_con):
        for statement in statements:
            con.execute(statement)
        answers.append(con.execute(query, parameters).fetchall())
    return answers[0], answers[1]


def test_parameters_bind_as_duckdb_binds_them(spark_con: Connection) -> None:
    duck, spark = both(spark_con, SETUP, "SELECT id, amount + ?, day + ? FROM t "
                       "WHERE day >= ? ORDER BY id", [Decimal("1.25"), 1, dt.date(2026, 2, 1)])
    assert spark == duck == [("b", None, dt.date(2026, 3, 1)),
                             ("c", Decimal("4.50"), dt.date(2026, 3, 2))]


def test_update_delete_and_rename_keep_row_order(spark_con: Connection) -> None:
    statements = [*SETUP,
                  "UPDATE t SET amount = coalesce(amount, 0) + 1 WHERE id <> 'a'",
                  "DELETE FROM t WHERE id = 'a'",
                  "INSERT INTO t VALUES ('d', 7, DATE '2026-03-02')",
                  "DROP TABLE IF EXISTS u",
                  "ALTER TABLE t RENAME TO u"]
    duck, spark = both(spark_con, statements, "SELECT id, amount, rowid FROM u")
    # as DuckDB's rowid, a row keeps its number when one before it is deleted
    assert spark == duck == [("b", Decimal("1.00"), 1), ("c", Decimal("4.25"), 2),
                             ("d", Decimal("7.00"), 3)]


def test_update_from_another_table(spark_con: Connection) -> None:
    statements = [*SETUP,
                  "CREATE OR REPLACE TABLE k AS SELECT 'c' AS id, 'X' AS code",
                  "CREATE OR REPLACE TABLE p AS SELECT id, CAST(NULL AS VARCHAR) AS code FROM t",
                  "UPDATE p SET code = k.code FROM k WHERE p.id = k.id"]
    duck, spark = both(spark_con, statements, "SELECT id, code FROM p")
    assert spark == duck == [("a", None), ("b", None), ("c", "X")]


def test_update_reports_the_rows_it_changed(spark_con: Connection) -> None:
    for con in (connect(kind="duckdb"), spark_con):
        for statement in SETUP:
            con.execute(statement)
        assert con.execute("UPDATE t SET amount = 0 WHERE amount > 5").fetchall() == [(1,)]


def test_md5_draws_are_equal(spark_con: Connection) -> None:
    """The control-group draw (interact/groups.py): hex digits of md5 as a fraction."""
    query = ("SELECT id, (('0x' || left(md5('seed:' || id), 8))::UBIGINT / 4294967296.0) "
             "FROM t ORDER BY id")
    duck, spark = both(spark_con, SETUP, query)
    assert [r[0] for r in spark] == ["a", "b", "c"]
    # Independently: hashlib's digest of the same text.
    import hashlib

    by_hand = [int(hashlib.md5(f"seed:{i}".encode()).hexdigest()[:8], 16) / 2**32
               for i in "abc"]
    assert [float(r[1]) for r in spark] == pytest.approx(by_hand, abs=1e-12)
    assert [float(r[1]) for r in duck] == pytest.approx(by_hand, abs=1e-12)


def test_large_decimal_sums_do_not_overflow_to_null(spark_con: Connection) -> None:
    """Spark makes an overflowing decimal NULL outside ANSI mode; a sum widens its type."""
    big = "9999999999999999.99"  # the largest DECIMAL(18, 2)
    statements = ["CREATE OR REPLACE TABLE m AS SELECT CAST(? AS DECIMAL(18, 2)) AS amount "
                  "FROM range(1000)"]
    for con in (connect(kind="duckdb"), spark_con):
        con.execute(statements[0], [big])
        total = con.execute("SELECT sum(amount) FROM m").fetchall()[0][0]
        assert total == Decimal(big) * 1000


def test_catalog_questions(spark_con: Connection) -> None:
    for con in (connect(kind="duckdb"), spark_con):
        for statement in SETUP:
            con.execute(statement)
        con.execute("CREATE OR REPLACE VIEW src_1 AS SELECT id FROM t")
        assert has_table(con, "t") and has_table(con, "src_1") and not has_table(con, "zz")
        assert [n for n, _ in columns(con, "t")] == ["id", "amount", "day"]
        assert "src_1" in table_names(con, "src_")
        con.execute("DROP VIEW src_1")


def test_csv_read_as_text(spark_con: Connection, tmp_path: Any) -> None:
    path = tmp_path / "x.csv"
    path.write_text('id,name\n001,"A, B"\n002,\n', encoding="utf-8")
    query = (f"SELECT id, name FROM read_csv('{path}', all_varchar = true, header = true, "
             "delim = ',', quote = '\"', escape = '\"')")
    duck, spark = both(spark_con, [], query)
    assert spark == duck == [("001", "A, B"), ("002", None)]


def test_a_csv_without_quotes_is_read_line_by_line(tmp_path: Any) -> None:
    from crmreport.engine.spark import _quoted

    plain, quoted = tmp_path / "plain.csv", tmp_path / "quoted.csv"
    plain.write_text("id,note\n1,a\n")
    quoted.write_text('id,note\n1,"two\nlines"\n')
    assert not _quoted(str(plain), '"')
    assert _quoted(str(quoted), '"')
    assert _quoted(str(tmp_path), '"')  # a folder: its files unread, taken as quoted


def test_an_unportable_function_is_refused_with_the_statement(spark_con: Connection) -> None:
    with pytest.raises(UntranslatableError, match=r"'SELECT hash\(1\) AS h'.*hash\(\)"):
        spark_con.execute("SELECT hash(1) AS h")


def test_duckdb_functions_spark_names_otherwise(spark_con: Connection) -> None:
    query = ("SELECT id, strlen('Müller'), suffix(id, 'b'), MAP {'a': 'x', 'b': 'y'}[id], "
             "regexp_full_match(id, '[a-b]'), CAST(try_strptime('20260131', '%Y%m%d') AS DATE), "
             "try_strptime('2026-13-01', '%Y-%m-%d'), json_object('id', id, 'amount', amount) "
             "FROM t ORDER BY id")
    duck, spark = both(spark_con, SETUP, query)
    assert spark == duck
    assert duck[0][1:5] == (7, False, "x", True)  # strlen counts bytes: ü is two


def test_macros_and_exclude(spark_con: Connection) -> None:
    statements = [*SETUP,
                  "CREATE OR REPLACE TEMP MACRO day_min(x) AS x - 1",
                  "CREATE OR REPLACE TEMP MACRO since(start) AS TABLE "
                  "SELECT * EXCLUDE (day), day AS d FROM t WHERE day >= day_min(start)"]
    duck, spark = both(spark_con, statements,
                       "SELECT * FROM since(DATE '2026-03-01') s ORDER BY id")
    assert spark == duck == [("b", None, dt.date(2026, 2, 28)),
                             ("c", Decimal("3.25"), dt.date(2026, 3, 1))]


def test_an_empty_window_follows_insertion_order(spark_con: Connection) -> None:
    statements = [*SETUP, "INSERT INTO t VALUES ('0', 1, DATE '2026-01-01')"]
    duck, spark = both(spark_con, statements,
                       "SELECT id, lag(id) OVER () AS p, row_number() OVER () AS n FROM t")
    assert spark == duck == [("a", None, 1), ("b", "a", 2), ("c", "b", 3), ("0", "c", 4)]


def test_rows_spread_over_partitions_are_numbered_in_order(spark_con: Connection) -> None:
    # 1,000 rows sorted across the shuffle's partitions, more inserted from another sort,
    # some deleted: rowid follows the sorts and survives the delete, as DuckDB's does
    statements = [
        "CREATE OR REPLACE TABLE d AS SELECT * FROM (VALUES (0), (1), (2), (3), (4), (5), (6), "
        "(7), (8), (9)) v(x)",
        "CREATE OR REPLACE TABLE s AS SELECT i, i % 7 AS k FROM "
        "(SELECT a.x * 100 + b.x * 10 + c.x AS i FROM d a, d b, d c)",
        "CREATE OR REPLACE TABLE n AS SELECT i, k FROM s ORDER BY k DESC, i",
        "INSERT INTO n SELECT i + 1000, k FROM s WHERE i % 3 = 0 ORDER BY k, i DESC",
        "DELETE FROM n WHERE i % 5 = 0",
    ]
    settings = spark_con.spark.conf  # type: ignore[attr-defined]
    settings.set("spark.sql.adaptive.coalescePartitions.enabled", "false")  # keep them apart
    try:
        duck, spark = both(spark_con, statements, "SELECT i, rowid, lag(i) OVER () FROM n")
        partitions = spark_con.spark.table("__stored_n").rdd.getNumPartitions()  # type: ignore[attr-defined]
    finally:
        settings.unset("spark.sql.adaptive.coalescePartitions.enabled")
    assert partitions == 4 + 4  # each sort's (spark.sql.shuffle.partitions), kept
    assert len(duck) == 1000 - 200 + 334 - 67  # 1,000 and 334 (i % 3 = 0), a fifth deleted
    assert duck[:3] == [(6, 0, None), (13, 1, 6), (27, 3, 13)]  # k = 6 first; 20 deleted
    assert duck[-1] == (1006, 1000 + 334 - 1, 1027)  # the last inserted: k = 0, i = 6
    assert spark == duck


def identified(con: Connection, shop: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The account and every canonical table (sorted rows) after identify over the shop."""
    from crmreport import pipeline
    from crmreport.config import load_campaign
    from crmreport.identify import identify_tables
    from crmreport.ingest import load_sources

    loaded = load_campaign(shop / "campaign.yaml")
    read = load_sources(con, pipeline.sources(loaded))
    done = identify_tables(con, read, loaded.config.currency)
    tables = {t.name: sorted(con.execute(f"SELECT * FROM {t.name}").fetchall(), key=repr)
              for t in done.tables if t.name != "quarantine"}
    return done.account.as_dict(), tables


def test_identify_gives_the_same_account_and_tables(spark_con: Connection, shop: Any) -> None:
    duck_account, duck_tables = identified(connect(kind="duckdb"), shop)
    spark_account, spark_tables = identified(spark_con, shop)
    assert spark_account == duck_account
    assert duck_tables["orders"] and spark_tables == duck_tables


def test_plan_gives_the_same_counts_and_contacts(spark_con: Connection, shop: Any) -> None:
    """The dry run of the tiny shop's campaign on both engines: every count, and every
    customer's offer, channel and group in the contact plan."""
    from crmreport import pipeline
    from crmreport.config import load_campaign, with_engine
    from crmreport.tables import CONTACT_PLAN

    runs = {}
    for kind in ("duckdb", "spark"):  # chosen as --engine chooses it
        run = pipeline.prepare(with_engine(load_campaign(shop / "campaign.yaml"), kind))
        assert type(run.con).__name__ == ("SparkConnection" if kind == "spark"
                                          else "DuckDBPyConnection")
        rows = run.con.execute(f"SELECT * FROM {CONTACT_PLAN} ORDER BY customer_id").fetchall()
        runs[kind] = (run.plan.counts(), rows)
    assert runs["duckdb"][0]["customers"] == 5
    assert runs["spark"] == runs["duckdb"]


def test_division_and_rounding_in_doubles(spark_con: Connection) -> None:
    """DuckDB divides decimals as doubles and rounds a double's exact binary value:
    79.05 / 2 is stored as 39.52499..., so it rounds to 39.52 (Spark alone: 39.53);
    0.125 is exact, a tie, and rounds away from zero."""
    statements = ["CREATE OR REPLACE TABLE r AS SELECT * FROM (VALUES (1, 79.05), (2, 5.35), "
                  "(3, 0.25), (4, -0.25), (5, 2.01)) v(k, x)"]
    query = "SELECT round(CAST(x AS DECIMAL(18, 2)) / 2, 2), x / 3 FROM r ORDER BY k"
    duck, spark = both(spark_con, statements, query)
    assert [r[0] for r in duck] == [39.52, 2.67, 0.13, -0.13, 1.0]  # 2.675, 1.005: below
    assert spark == duck
    assert type(spark[0][1]) is float


def test_grouping_sets_order_by_all_and_numbered_parameters(spark_con: Connection) -> None:
    """The response table's forms: grouping(a, b) is a bit per column left out (a's the
    higher), ORDER BY ALL orders by every column, $1 is the first parameter."""
    query = ("SELECT id, day, grouping(id, day) AS g, count(*) AS n FROM t WHERE day >= $1 "
             "GROUP BY GROUPING SETS ((id, day), (id), ()) ORDER BY ALL")
    duck, spark = both(spark_con, SETUP, query, [dt.date(2026, 2, 1)])
    feb, mar = dt.date(2026, 2, 28), dt.date(2026, 3, 1)
    assert spark == duck == [("b", feb, 0, 1), ("b", None, 1, 1), ("c", mar, 0, 1),
                             ("c", None, 1, 1), (None, None, 3, 2)]


def test_a_list_of_time_formats_takes_the_first_that_reads(spark_con: Connection) -> None:
    query = ("SELECT x, CAST(try_strptime(x, ['%d.%m.%Y', '%m/%d/%Y %I:%M %p', '%Y%m%d']) "
             "AS DATE) FROM (SELECT unnest(?) AS x) ORDER BY x")
    values = ["31.12.2024", "1/5/2024 11:30 PM", "20240105", "2024-13-01"]
    duck, spark = both(spark_con, [], query, [values])
    assert spark == duck == [("1/5/2024 11:30 PM", dt.date(2024, 1, 5)), ("2024-13-01", None),
                             ("20240105", dt.date(2024, 1, 5)),
                             ("31.12.2024", dt.date(2024, 12, 31))]


def test_spark_connect_names_a_setting_its_server_refuses(spark_connect: str) -> None:
    """A Connect session takes runtime SQL settings only; a static one stops the command."""
    from crmreport.engine.spark import session
    from crmreport.errors import ConfigError

    spark = session(spark_connect, {"spark.sql.shuffle.partitions": "3"})
    try:
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
        assert spark.conf.get("spark.sql.ansi.enabled") == "true"  # PARITY
        with pytest.raises(ConfigError) as raised:
            session(spark_connect, {"spark.executor.memory": "4g"})
    finally:  # the session is the run's: as the server was started
        spark.conf.set("spark.sql.shuffle.partitions", "4")
    message = str(raised.value)
    assert f"the Spark Connect server at {spark_connect} refused the setting " \
           "spark.executor.memory" in message
    assert "set it on the server" in message


def test_over_spark_connect_files_frames_and_batches_are_as_on_duckdb(
        spark_connect: str, tmp_path: Any) -> None:
    """The adapter's own paths over Spark Connect: a CSV read keeping its ragged rows aside,
    Parquet read as text, a pandas frame registered, a result fetched in batches."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crmreport.engine.spark import connect_spark
    from crmreport.ingest.readers import _read_parquet, materialise

    csv = tmp_path / "ragged.csv"
    csv.write_text("id,name\n1,a\n2\n3,c,extra\n4,d\n", encoding="utf-8")
    parquet = tmp_path / "typed.parquet"
    pq.write_table(pa.table({
        "id": ["x", None], "amount": pa.array([Decimal("1.50"), Decimal("-2.25")],
                                              pa.decimal128(9, 2)),
        "day": [dt.date(2026, 1, 31), dt.date(2026, 2, 1)],
        "seen": pa.array([dt.datetime(2026, 1, 2, 9, 30, tzinfo=dt.UTC), None],
                         pa.timestamp("us", tz="UTC"))}), parquet)
    queries = ["SELECT * FROM kept", "SELECT line, csv_line, error_type FROM bad ORDER BY line",
               "SELECT * FROM typed ORDER BY _row", "SELECT * FROM p ORDER BY a"]
    answers = []
    for con in (connect(kind="duckdb"), connect_spark(spark_connect)):
        con.execute(f"CREATE TABLE kept AS SELECT * FROM read_csv('{csv}', all_varchar = true, "
                    "header = true, store_rejects = true, rejects_table = 'bad')")
        materialise(con, "typed", _read_parquet(con, parquet, "typed"))  # DuckDB's: a view
        con.register("p", pd.DataFrame({"a": [2, 1], "b": ["y", None]}))
        rows = [con.execute(q).fetchall() for q in queries]
        con.execute("SELECT 1 AS one FROM range(2500)")  # streamed: fetched in batches
        answers.append((rows, [len(con.fetchmany(1000)) for _ in range(3)]))
        con.close()
    duck, spark = answers
    assert duck[0][0] == [("1", "a"), ("4", "d")]
    assert [(line, error) for line, _, error in duck[0][1]] == [
        (3, "MISSING COLUMNS"), (4, "TOO MANY COLUMNS")]
    assert duck[0][2] == [(1, "x", "1.50", "2026-01-31", "2026-01-02 09:30:00+00"),
                          (2, None, "-2.25", "2026-02-01", None)]
    assert duck[1] == [1000, 1000, 500]
    assert spark == duck


def test_a_command_over_spark_connect_releases_its_session_on_the_server(
        spark_connect: str, shop: Any) -> None:
    """The server would keep a session's views and checkpoints (customer data) for an hour
    after its client went: a command's engine, closed, releases the session it started. The
    command runs in a process of its own (here the tests' session would be reused), on a
    session id chosen here; asked for that id afterwards, the server says it was closed (an
    id it never saw would just start a new session)."""
    import subprocess
    import sys
    import uuid

    from pyspark.errors import PySparkException
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    url = f"{spark_connect}/;session_id={uuid.uuid4()}"
    command = [sys.executable, "-m", "crmreport", "plan", str(shop / "campaign.yaml"),
               "--engine", "spark", "--spark-master", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    after = RemoteSession(url)  # a client of its own, not the process's active session
    try:
        with pytest.raises(PySparkException) as gone:
            after.sql("SELECT 1").collect()
        assert gone.value.getCondition() == "INVALID_HANDLE.SESSION_CLOSED"
    finally:
        after.client.close()


def test_the_tests_connect_server_is_not_in_utc(spark_connect: str) -> None:
    """So that parity over it shows the client's own session settings suffice. Asked from a
    fresh interpreter: stopping a Connect session shuts down pyspark's process-wide pool of
    release threads, which the run's shared session still uses."""
    import subprocess
    import sys

    from .spark_server import SERVER_ZONE

    probe = (
        "import sys\n"
        "from pyspark.sql.connect.session import SparkSession\n"
        "s = SparkSession(sys.argv[1])  # a session without crmreport's settings\n"
        "print(s.conf.get('spark.sql.session.timeZone'))\n"
        "print(s.sql(\"SELECT CAST(TIMESTAMP '2026-01-01 00:00:00+00:00' AS STRING)\")"
        ".first()[0])\n"
        "s.stop()\n")
    answer = subprocess.run([sys.executable, "-c", probe, spark_connect], capture_output=True,
                            text=True, timeout=300, check=True)
    assert answer.stdout.splitlines()[-2:] == [SERVER_ZONE, "2025-12-31 19:00:00"]


def test_a_connect_url_is_shown_without_its_token_or_user() -> None:
    from crmreport.engine.spark import connect_address

    assert connect_address("sc://alice:pw@spark.example:15003/;token=s3cr3t;use_ssl=true") \
        == "sc://spark.example:15003"
    assert connect_address("sc://spark.example;token=s3cr3t") == "sc://spark.example:15002"


def test_a_port_that_is_not_a_number_is_named() -> None:
    from crmreport.engine.spark import connect_address
    from crmreport.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        connect_address("sc://spark.example:abc;token=s3cr3t")
    message = str(raised.value)
    assert "spark.master" in message and "sc://spark.example:... has a port that is not" \
        in message
    assert "s3cr3t" not in message


@pytest.fixture
def not_spark_connect() -> Any:
    """A port that answers, but not in Spark Connect's protocol: its URL, with a token."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            with client:
                client.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    yield f"sc://127.0.0.1:{listener.getsockname()[1]}/;token=s3cr3t"
    listener.close()


def test_a_port_that_is_not_spark_connect_is_named_without_the_token(
        not_spark_connect: str) -> None:
    pytest.importorskip("grpc", reason="the Spark Connect client is not installed")
    from crmreport.engine.spark import connect_address, session
    from crmreport.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        session(not_spark_connect)
    message = str(raised.value)
    assert f"the server at {connect_address(not_spark_connect)} does not answer as a Spark " \
           "Connect server" in message
    assert "s3cr3t" not in message and "refused the setting" not in message


class FakeClient:
    def __init__(self) -> None:
        self.policies: list[Any] = ["pyspark's"]

    def get_retry_policies(self) -> list[Any]:
        return self.policies

    def set_retry_policies(self, policies: list[Any]) -> None:
        self.policies = list(policies)


class FakeConnectSession:
    """A Connect session's first call and settings, answered without a server."""

    def __init__(self, version: str, refusal: Exception | None = None) -> None:
        self.version, self.client, self.refusal = version, FakeClient(), refusal
        self.conf = self

    def set(self, key: str, value: str) -> None:
        if self.refusal:
            raise self.refusal


def test_a_spark_3_connect_server_is_refused_saying_what_to_do() -> None:
    pytest.importorskip("grpc", reason="the Spark Connect client is not installed")
    from crmreport.engine.spark import _require_spark_4
    from crmreport.errors import ConfigError

    spark = FakeConnectSession("3.5.6")
    with pytest.raises(ConfigError) as raised:
        _require_spark_4(spark, "sc://spark.example:15002")
    assert "sc://spark.example:15002 runs Spark 3.5.6; crmreport needs Spark 4" \
        in str(raised.value)
    assert spark.client.policies == ["pyspark's"]  # the short retries for the first call only
    _require_spark_4(FakeConnectSession("4.0.5"), "sc://spark.example:15002")  # no error


def test_a_setting_that_fails_otherwise_is_not_called_refused() -> None:
    pytest.importorskip("grpc", reason="the Spark Connect client is not installed")
    from pyspark.errors import PySparkException

    from crmreport.engine.spark import _set
    from crmreport.errors import ConfigError

    spark = FakeConnectSession("4.0.5", PySparkException("the session broke\nits trace"))
    with pytest.raises(ConfigError) as raised:
        _set(spark, "sc://spark.example:15002", "spark.sql.ansi.enabled", "true")
    message = str(raised.value)
    assert "sc://spark.example:15002 failed to start the session (the session broke)" in message
    assert "refused" not in message and "its trace" not in message


class LostServer:
    """A Connect session whose server stopped answering: every call's retries are spent."""

    def sql(self, query: str) -> Any:
        from pyspark.errors import RetriesExceeded

        raise RetriesExceeded(errorClass="RETRIES_EXCEEDED", messageParameters={})


def test_a_connect_server_lost_mid_run_is_one_line_naming_the_statement() -> None:
    pytest.importorskip("grpc", reason="the Spark Connect client is not installed")
    from crmreport.engine.spark import SparkConnection
    from crmreport.errors import CrmError

    con = SparkConnection(LostServer(), owns_session=True)  # type: ignore[arg-type]
    with pytest.raises(CrmError) as raised:
        con.execute("SELECT 1 AS one")
    message = str(raised.value)
    assert "the Spark Connect server stopped answering ([RETRIES_EXCEEDED]" in message
    assert "\n" not in message
