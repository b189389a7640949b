"""The engine interface over a SparkSession (pyspark 4.0, the optional ``spark`` extra; 3.5
classic worked before Spark 4, not tested since), in this process or over Spark Connect
(``sc://host:port``, Spark 4).

Spark SQL has no stored tables without a warehouse and no UPDATE/DELETE on them, so a table
here is a DataFrame, materialised once (``localCheckpoint``) and registered as a temporary
view. Each stored table carries a hidden ``_rowid_`` column numbering its rows in insertion
order, so DuckDB's ``rowid`` keeps its meaning: each partition numbers its rows on from the
count of the partitions before it (one pass over the materialised rows), so no step funnels
every row through one task. DDL and DML become DataFrame operations:

- CREATE TABLE ... AS / (columns): materialise and register; CREATE VIEW: a temporary view;
- INSERT: the table unioned with the new rows (cast to its columns' types), numbered on;
- UPDATE ... [FROM ...] WHERE: one SELECT that takes the new values for matching rows;
- DELETE ... WHERE: the rows where the condition is not true;
- ALTER TABLE ... RENAME, ADD/DROP COLUMN, DROP TABLE/VIEW: the registration moved,
  changed (columns chosen from the stored rows, not materialised again) or removed;
- anything else: translated (engine/translate.py) and run with ``spark.sql``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from crmreport.engine.translate import (
    UntranslatableError,
    bind_tree,
    parse,
    statement_name,
    to_spark,
)
from crmreport.errors import ConfigError, CrmError, Problem
from crmreport.spark_setup import CONNECT_SINCE, is_connect

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ROWID = "_rowid_"
MID = "__mid_"  # a row's place before it is numbered: partition << 33 | index in it
STORED = "__stored_"  # prefix of the view holding a table with its row numbers
CONNECT_PORT = 15002  # Spark Connect's port when the URL names none
CONNECT_TIMEOUT = 10  # seconds to wait for a Spark Connect server's port to answer
# The Connect client's retries (pyspark's DefaultPolicy's arguments) for the session's first
# call, which asks the server's version, once its gRPC channel is up: an unavailable server
# fails in about 4 seconds, not after the client's default of at least 10 minutes.
FIRST_CALL_RETRIES = {"max_retries": 4, "initial_backoff": 250, "backoff_multiplier": 2.0,
                      "max_backoff": 2000}
# ... and for the rest of the run: pyspark's default (a restarting server is waited for); the
# tests bound it.
RUN_RETRIES: dict[str, Any] | None = None


class SparkError(duckdb.Error):
    """Spark refused a statement (a missing column, a bad cast): caught like DuckDB's errors."""


# Set for parity with DuckDB: UTC, ANSI arithmetic (decimal overflow is an error, never NULL).
PARITY = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# A session this process starts itself: no web UI, few shuffle partitions on a small machine.
LOCAL = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
}


def session(master: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """One SparkSession per process at ``master``; ``conf`` (the campaign's ``spark.conf``)
    overrides the defaults above. A master ``sc://host:port`` is a Spark Connect server."""
    _quiet_query_logs()
    if is_connect(master):
        return remote_session(master, conf)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("crmreport")
    for key, value in {**LOCAL, **PARITY, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")  # its warnings would drown crmreport's messages
    return spark


def _quiet_query_logs() -> None:
    """pyspark 4 logs each refused statement with its plan and the JVM's stack to stderr. The
    adapter's SparkError says what went wrong in one line, and a plan may hold the data of
    a statement's literals, which must not reach a log."""
    import logging

    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pyspark 3.5 logs none
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def remote_session(url: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The process's session on the Spark Connect server at ``url``: the active one if there
    is one (pyspark's Connect functions look it up), else a new one, which ``stop`` releases
    with what the server holds for it. The server owns its JVM, web UI and logs: only runtime
    SQL settings are set, PARITY and then ``conf``. Connect's own builder is used, not
    pyspark's, which would switch the whole process to Connect (a classic session beside it,
    as in the tests, would then fail)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    address = connect_address(url)
    _require_listening(url)
    _require_grpc(url, address)
    created = not connect_session_active()
    spark = RemoteSession.builder.remote(url).getOrCreate()
    try:
        _require_spark_4(spark, address)
        for key, value in {**PARITY, **(conf or {})}.items():
            _set(spark, address, key, value)
    except BaseException:
        if created:
            spark.stop()
        raise
    if RUN_RETRIES is not None:
        _retry(spark, RUN_RETRIES)
    return spark  # type: ignore[return-value]


def connect_session_active() -> bool:
    """Whether this thread has a Spark Connect session, which ``remote_session`` reuses."""
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    return RemoteSession.getActiveSession() is not None


def connect_address(url: str) -> str:
    """A Spark Connect URL as sc://host:port, for messages: without its options (``;token=``)
    or a user's name and password."""
    host, port = _host_port(url)
    return f"sc://[{host}]:{port}" if ":" in host else f"sc://{host}:{port}"


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    where = urlsplit(url.split(";", 1)[0])
    host = where.hostname or "localhost"
    try:
        return host, where.port or CONNECT_PORT
    except ValueError:  # not a number, or out of range
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"the Spark Connect master sc://{host}:... has a port that is not a number from "
            "1 to 65535", "write it as sc://host:port, e.g. sc://localhost:15002, in "
            "--spark-master or the campaign's spark.master")]) from None


def _require_listening(url: str) -> None:
    """A ConfigError unless something listens at the URL's host and port: Spark Connect's
    client would retry a closed port for minutes before failing with a gRPC trace."""
    import socket

    address = connect_address(url)
    try:
        socket.create_connection(_host_port(url), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"no Spark Connect server answers at {address} ({exc.strerror or exc})",
            "start the server (Spark's sbin/start-connect-server.sh) or correct the host "
            "and port in --spark-master or the campaign's spark.master")]) from None


def _require_grpc(url: str, address: str) -> None:
    """A ConfigError unless a gRPC channel, as the session's client would open it (TLS and
    token from the URL), is up within CONNECT_TIMEOUT: the client's own calls would wait on
    a port that answers in another protocol (another service, TLS on one side only) for
    minutes each."""
    import grpc
    from pyspark.sql.connect.client import DefaultChannelBuilder

    channel = DefaultChannelBuilder(url).toChannel()
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
    except grpc.FutureTimeoutError:
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"the server at {address} does not answer as a Spark Connect server (no gRPC "
            f"connection within {CONNECT_TIMEOUT} s)", NOT_CONNECT_FIX)]) from None
    finally:
        channel.close()


NOT_CONNECT_FIX = ("check that the port is the Connect server's (15002 unless set) and that "
                   "the URL's options (use_ssl, token) match how the server is started")


def _retry(spark: Any, policy: Mapping[str, Any]) -> None:
    """The session's client retries a failed call as ``policy`` says (pyspark's public
    ``SparkConnectClient.set_retry_policies``)."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark.client.set_retry_policies([DefaultPolicy(**policy)])


def _require_spark_4(spark: Any, address: str) -> None:
    """The session's first call, bounded: the server's Spark version, 4 or later (Connect 3.5
    has no local checkpoints, with which the adapter keeps its tables)."""
    from pyspark.errors import PySparkException

    before = spark.client.get_retry_policies()
    _retry(spark, FIRST_CALL_RETRIES)
    try:
        version = str(spark.version)
    except PySparkException as exc:
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"the server at {address} does not answer as a Spark Connect server "
            f"({_first_line(exc)})", NOT_CONNECT_FIX)]) from None
    finally:
        spark.client.set_retry_policies(before)
    if int(version.split(".")[0]) < CONNECT_SINCE:
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"the Spark Connect server at {address} runs Spark {version}; crmreport needs "
            f"Spark {CONNECT_SINCE} or later over Spark Connect",
            "connect to a Spark 4 Connect server, or run on that cluster with spark-submit "
            "(see README 'Running on Spark')")])


def _set(spark: Any, address: str, key: str, value: str) -> None:
    """A runtime SQL setting on the session; a ConfigError naming it if the server refuses
    it (a static setting) or fails."""
    from pyspark.errors import PySparkException

    try:
        spark.conf.set(key, value)
    except PySparkException as exc:
        if str(exc.getCondition() or "").startswith("CANNOT_MODIFY"):
            raise ConfigError([Problem(
                "environment", None, "spark.conf",
                f"the Spark Connect server at {address} refused the setting {key}: "
                f"{_first_line(exc)}",
                "set it on the server (start-connect-server.sh --conf ...) and remove it "
                "from the campaign's spark.conf")]) from None
        raise ConfigError([Problem(
            "environment", None, "spark.master",
            f"the Spark Connect server at {address} failed to start the session "
            f"({_first_line(exc)})", "check the server's log")]) from None


def _first_line(exc: BaseException) -> str:
    return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def functions(of: DataFrame | SparkSession) -> Any:
    """pyspark's column functions for ``of``'s kind of session, Spark Connect's or classic's
    (``pyspark.sql.functions`` picks one for the whole process, by an environment variable
    that Connect's own builder leaves unset)."""
    if type(of).__module__.startswith("pyspark.sql.connect."):
        from pyspark.sql.connect import functions as remote

        return remote
    from pyspark.sql import functions as classic

    return classic


def connect_spark(master: str, conf: Mapping[str, str] | None = None) -> SparkConnection:
    """A connection over the process's session: one it starts on a Spark Connect server is
    its own (released when it closes); one it finds (the tests') and a local or cluster
    session are kept for the next."""
    owns = is_connect(master) and not connect_session_active()
    return SparkConnection(session(master, conf), owns_session=owns)


class SparkConnection:
    """DuckDB's connection interface (``crmreport.engine.Connection``) answered by Spark."""

    def __init__(self, spark: SparkSession, owns_session: bool = False) -> None:
        self.spark = spark
        self._owns_session = owns_session  # close() stops it
        self._tables: set[str] = set()
        self._counts: dict[str, int] = {}  # a stored table's rows
        # a stored table's rows with their numbers: the plan itself, not its view's name,
        # which Spark Connect would look up again once the view is replaced
        self._frames: dict[str, DataFrame] = {}
        self._views: set[str] = set()
        self._rows: Iterator[tuple[Any, ...]] | None = None
        self._frame: DataFrame | None = None
        self._files: list[str] = []  # views over the files statements read
        self._macros: dict[str, tuple[list[str], exp.Expr]] = {}  # name: parameters, body

    # --- the connection interface --------------------------------------------------------

    def execute(self, query: str, parameters: object = None, /) -> SparkConnection:
        with self._server_lost(query):
            for tree in parse(query):
                # bound first: a macro may repeat its argument, a ? among them
                self._run(self._expand(bind_tree(tree, parameters)), query)
        return self

    @contextlib.contextmanager
    def _server_lost(self, sql: str) -> Iterator[None]:
        """A Spark Connect server that stops answering mid-run (the client retries an
        unavailable server until its policy is spent): one line naming the statement, not
        the gRPC trace."""
        if not self._owns_session:  # a session in this process: no server to lose
            yield
            return
        from pyspark.errors import RetriesExceeded

        try:
            yield
        except RetriesExceeded as exc:
            raise CrmError(f"engine spark: {statement_name(sql)}: the Spark Connect server "
                           f"stopped answering ({_first_line(exc)}); check the server and run "
                           "again") from None

    def executemany(self, query: str, parameters: object = None, /) -> SparkConnection:
        for row in parameters or []:  # type: ignore[attr-defined]
            self.execute(query, row)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self._cursor(), None)

    def fetchmany(self, size: int = 1, /) -> list[tuple[Any, ...]]:
        return list(itertools.islice(self._cursor(), size))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor())

    @property
    def description(self) -> list[tuple[str, str]] | None:
        if self._frame is None:
            return None
        return [(f.name, f.dataType.simpleString()) for f in self._frame.schema.fields]

    def df(self) -> Any:
        import pandas as pd

        frame = self._result()
        return pd.DataFrame(self.fetchall(), columns=frame.columns)

    def fetchnumpy(self) -> dict[str, Any]:
        import numpy as np

        names = self._result().columns
        rows = self.fetchall()
        arrays: dict[str, Any] = {}
        for i, name in enumerate(names):  # as DuckDB's: decimals as floats, NULLs masked
            values = [float(r[i]) if isinstance(r[i], Decimal) else r[i] for r in rows]
            missing = [v is None for v in values]
            if any(missing):
                filled = np.array([0 if v is None else v for v in values])
                arrays[name] = np.ma.masked_array(filled, mask=missing)
            else:
                arrays[name] = np.array(values)
        return arrays

    def register(self, view_name: str, python_object: object, /) -> SparkConnection:
        import pyarrow as pa

        frame: Any = (python_object.to_pandas() if isinstance(python_object, pa.Table)
                      else python_object)
        self._store(view_name, self.spark.createDataFrame(frame))
        return self

    def unregister(self, view_name: str, /) -> SparkConnection:
        self._drop(view_name)
        return self

    def close(self) -> None:
        """The connection's tables dropped; a session it owns stopped, which on a Spark
        Connect server releases the session's views and checkpoints (the customers' data)
        at once rather than after the server's idle timeout."""
        if self._owns_session:
            self._tables.clear()
            self._views.clear()
            self.spark.stop()
            return
        for name in [*self._tables, *self._views]:
            self._drop(name)

    # --- the catalog (crmreport.engine.Catalog) ------------------------------------------

    def has_table(self, name: str) -> bool:
        return name in self._tables or name in self._views

    def columns(self, relation: str) -> list[tuple[str, str]]:
        sql = relation if relation.lstrip().upper().startswith("SELECT") else \
            f"SELECT * FROM {relation}"
        frame = self._select(parse(sql)[0], sql)
        return [(f.name, f.dataType.simpleString()) for f in frame.schema.fields
                if f.name != ROWID]

    def table_names(self, prefix: str) -> list[str]:
        return sorted(n for n in self._tables | self._views if n.startswith(prefix))

    # --- statements ----------------------------------------------------------------------

    def _run(self, tree: exp.Expr, sql: str) -> None:
        self._rows, self._frame = None, None
        if isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "MACRO":
            call = tree.this  # name(parameters): the name is a Table node
            name = call.this.name if isinstance(call.this, exp.Table) else call.name
            self._macros[name.lower()] = ([p.name for p in call.expressions], tree.expression)
            self._done(0)
        elif isinstance(tree, exp.Create):
            self._create(tree, sql)
        elif isinstance(tree, exp.Insert):
            self._insert(tree, sql)
        elif isinstance(tree, exp.Update):
            self._update(tree, sql)
        elif isinstance(tree, exp.Delete):
            self._delete(tree, sql)
        elif isinstance(tree, exp.Drop):
            for table in tree.args.get("tables") or [tree.this]:
                if not tree.args.get("exists") and not self.has_table(table.name):
                    raise SparkError(f"{statement_name(sql)}: Catalog Error: Table with name "
                                     f"{table.name} does not exist!")
                self._drop(table.name)
            self._done(0)
        elif isinstance(tree, exp.Alter):
            self._alter(tree, sql)
        elif isinstance(tree, exp.Query):
            self._frame = self._select(tree, sql)
        else:
            raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' is "
                                      f"a {tree.key.upper()}, which the adapter does not run")

    def _expand(self, tree: exp.Expr) -> exp.Expr:
        """DuckDB's macros, which Spark lacks, written out where they are called: a table
        macro as a subquery, a scalar one as its expression."""
        if not self._macros:
            return tree

        def swap(node: exp.Expr) -> exp.Expr:
            call = node.this if isinstance(node, exp.Table) else node
            if not isinstance(call, exp.Anonymous) or call.name.lower() not in self._macros:
                return node
            parameters, body = self._macros[call.name.lower()]
            given = dict(zip(parameters, call.expressions, strict=True))
            expanded = self._expand(body.transform(
                lambda n: given[n.name].copy() if isinstance(n, exp.Column) and not n.table
                and n.name in given else n, copy=True))
            if isinstance(node, exp.Table):
                alias = node.alias or call.name
                return exp.Subquery(this=expanded,
                                    alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return exp.Paren(this=expanded)

        return tree.transform(swap, copy=True)

    def _select(self, tree: exp.Expr, sql: str) -> DataFrame:
        from pyspark.errors import PySparkException

        try:
            tree = self._without_exclude(self._with_files(self._with_rowid(tree), sql), sql)
            return self.spark.sql(to_spark(tree, sql))
        except PySparkException as exc:
            if self._owns_session and exc.getCondition() == "RETRIES_EXCEEDED":
                raise  # not the statement's fault: the server is gone (_server_lost)
            why = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise SparkError(f"{statement_name(sql)}: {why}") from None

    def _without_exclude(self, tree: exp.Expr, sql: str) -> exp.Expr:
        """``SELECT * EXCLUDE (a, ...)``, which Spark lacks, as the other columns by name (the
        query analysed, not run, to learn them)."""
        tree = tree.copy()
        for select in reversed(list(tree.find_all(exp.Select))):  # the innermost first
            star = next((e for e in select.expressions if isinstance(e, exp.Star)
                         and e.args.get("except_")), None)
            if star is None:
                continue
            dropped = {c.name for c in star.args["except_"]}
            probe = select.copy()
            probe.set("expressions", [exp.Star()])
            for clause in ("order", "limit", "offset"):
                probe.set(clause, None)
            names = self.spark.sql(to_spark(probe, sql)).columns
            at = select.expressions.index(star)
            select.set("expressions", [*select.expressions[:at],
                                       *[exp.column(n, quoted=True) for n in names
                                         if n not in dropped],
                                       *select.expressions[at + 1:]])
        return tree

    def _with_files(self, tree: exp.Expr, sql: str) -> exp.Expr:
        """DuckDB's file readers (read_csv, read_parquet) as views over Spark's readers."""
        def swap(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and isinstance(node.this, exp.ReadCSV | exp.ReadParquet
                                                          | exp.Anonymous):
                reader = node.this
                if isinstance(reader, exp.Anonymous) and reader.name.lower() not in FILE_READERS:
                    return node
                name = f"__file_{len(self._files)}"
                self._files.append(name)
                self._read_file(reader, sql).createOrReplaceTempView(name)
                alias = node.args.get("alias")
                return exp.Table(this=exp.to_identifier(name), alias=alias)
            return node

        return tree.transform(swap, copy=True)

    def _read_file(self, reader: exp.Expr, sql: str) -> DataFrame:
        """``read_file``; a CSV read with ``store_rejects`` keeps only the lines of the
        header's width, the others going to its ``rejects_table`` as DuckDB's reader puts
        them there (line, the line as written, the error)."""
        options = _options(reader) if isinstance(reader, exp.ReadCSV | exp.Anonymous) else {}
        frame = read_file(self.spark, reader, sql, options.get("store_rejects") is True)
        rejects = str(options.get("rejects_table") or "")
        if CORRUPT not in frame.columns or not rejects:
            return frame
        F = functions(frame)
        frame = numbered(frame)  # materialised once; _store numbers the kept rows anew
        bad = [int(r[0]) for r in frame.where(F.col(CORRUPT).isNotNull())
               .select(ROWID).orderBy(ROWID).collect()]
        self._drop(rejects)
        if bad:
            path = reader.this.name if not isinstance(reader, exp.Anonymous) else \
                reader.expressions[0].name
            width = len(frame.columns) - 2
            found = rejected_records(path, str(options.get("delim", ",")), width, bad)
            self._store(rejects, self.spark.createDataFrame(
                [(0, line, 0, text, error) for line, text, error in found],
                "scan_id BIGINT, line BIGINT, column_idx BIGINT, csv_line STRING, "
                "error_type STRING"))
        return frame.where(F.col(CORRUPT).isNull()).drop(CORRUPT, ROWID)  # in file order

    def _with_rowid(self, tree: exp.Expr) -> exp.Expr:
        """A statement naming ``rowid``: its stored tables read with their row numbers."""
        if not any(c.name.lower() == "rowid" for c in tree.find_all(exp.Column)):
            return tree

        def swap(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and node.name.lower() == "rowid":
                return exp.column(ROWID, table=node.table or None)
            if isinstance(node, exp.Table) and node.name in self._tables and not node.db:
                alias = node.alias or node.name
                return exp.Table(this=exp.to_identifier(STORED + node.name),
                                 alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return node

        return tree.transform(swap, copy=True)

    def _create(self, tree: exp.Create, sql: str) -> None:
        kind = str(tree.args.get("kind") or "").upper()
        target = tree.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        if tree.args.get("exists") and self.has_table(name):
            self._done(0)
            return
        query = tree.expression
        if kind == "VIEW" and query is not None:
            self._drop(name)
            self._select(query, sql).createOrReplaceTempView(name)
            self._views.add(name)
            self._done(0)
            return
        if kind != "TABLE":
            raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' "
                                      f"creates a {kind or 'thing'}, which the adapter cannot")
        if query is None:  # CREATE TABLE t (column TYPE, ...): an empty table of that shape
            defs = [c for c in target.expressions if isinstance(c, exp.ColumnDef)]
            query = exp.select(*[exp.alias_(exp.cast(exp.null(), c.args["kind"]), c.name)
                                 for c in defs]).where(exp.false())
        self._done(self._store(name, self._select(query, sql)))

    def _store(self, name: str, frame: DataFrame) -> int:
        """Materialise ``frame`` as table ``name`` and return its row count. Rows without a
        number (no ``_rowid_``, or NULL) are numbered in their order after the highest number
        kept: as DuckDB's rowid, a row keeps its number when others are deleted."""
        F = functions(frame)
        if ROWID not in frame.columns:
            frame = unnumbered(frame)
        elif MID not in frame.columns:
            frame = frame.withColumn(MID, F.lit(None).cast("long"))
        # toDF renames every column to itself, giving it a new attribute id: a checkpoint keeps
        # its source's ids, and a table made from another (suggestions from assignments) would
        # share them, which Spark's analyser fails on when both are joined.
        stored = frame.toDF(*frame.columns).localCheckpoint()
        rows, count = _numbered_rows(stored)
        self._register(name, rows)  # drops the old table's count
        self._counts[name] = count
        return count

    def _register(self, name: str, stored: DataFrame) -> None:
        """``stored`` (with its numbers) as table ``name``: two views, without and with them,
        which replace any of that name (not dropped first: a call each over Spark Connect)."""
        self._forget(name)
        stored.createOrReplaceTempView(STORED + name)
        stored.drop(ROWID).createOrReplaceTempView(name)
        self._tables.add(name)
        self._frames[name] = stored

    def _stored(self, name: str, sql: str) -> DataFrame:
        if name not in self._tables:
            raise SparkError(f"{statement_name(sql)}: Catalog Error: Table with name {name} "
                             "does not exist!")
        return self._frames[name]

    def _drop(self, name: str) -> None:
        for view in (name, STORED + name):
            self.spark.catalog.dropTempView(view)
        self._forget(name)

    def _forget(self, name: str) -> None:
        self._tables.discard(name)
        self._views.discard(name)
        self._counts.pop(name, None)
        self._frames.pop(name, None)

    def _done(self, count: int) -> None:
        self._rows = iter([(count,)])

    def _insert(self, tree: exp.Insert, sql: str) -> None:
        F = functions(self.spark)
        target = tree.this
        name = target.this.name if isinstance(target, exp.Schema) else target.name
        stored = self._stored(name, sql)
        table = stored.drop(ROWID)
        query = tree.expression
        new = self._select(query, sql)
        if isinstance(target, exp.Schema):  # INSERT INTO t (a, b) ...
            named = [c.name for c in target.expressions]
        elif tree.args.get("by_name"):
            named = list(new.columns)
        else:
            named = table.columns[: len(new.columns)]
        new = new.toDF(*named)
        types = dict(table.dtypes)
        added = new.select(*[(F.col(c).cast(types[c]) if c in named else F.lit(None).cast(
            types[c])).alias(c) for c in table.columns])
        before = self._counts[name]
        old = stored.withColumn(MID, F.lit(None).cast("long"))
        self._done(self._store(name, old.unionByName(unnumbered(added))) - before)

    def _update(self, tree: exp.Update, sql: str) -> None:
        """The table again, each matching row with its new values: the matches found by a
        SELECT of (row number, new values) over the table (and the FROM relation)."""
        target = tree.this
        name = target.name
        alias = target.alias or name
        stored = self._stored(name, sql)
        sets = [(e.this.name, e.expression) for e in tree.expressions]
        matches = exp.select(exp.column(ROWID, table=alias).as_("__rid"),
                             *[v.as_(f"__v{i}") for i, (_, v) in enumerate(sets)])
        matches = matches.from_(exp.Table(this=exp.to_identifier(STORED + name),
                                          alias=exp.TableAlias(this=exp.to_identifier(alias))))
        source = tree.args.get("from") or tree.args.get("from_")
        if source is not None:
            matches = matches.join(source.this, join_type="cross")
        where = tree.args.get("where")
        if where is not None:
            matches = matches.where(where.this)
        found = self._select(matches, sql).dropDuplicates(["__rid"]).localCheckpoint()
        count = int(found.count())
        types = dict(stored.dtypes)
        found.createOrReplaceTempView("__update_matches")
        changed = {c: i for i, (c, _) in enumerate(sets)}
        columns = ", ".join(
            f"CASE WHEN m.__rid IS NULL THEN t.`{c}` ELSE CAST(m.__v{changed[c]} AS {types[c]}) "
            f"END AS `{c}`" if c in changed else f"t.`{c}`"
            for c in stored.columns if c != ROWID)
        frame = self.spark.sql(f"SELECT {columns}, t.{ROWID} FROM `{STORED}{name}` t LEFT JOIN "
                               f"__update_matches m ON t.{ROWID} = m.__rid ORDER BY t.{ROWID}")
        self._store(name, frame)
        self.spark.catalog.dropTempView("__update_matches")
        self._done(count)

    def _delete(self, tree: exp.Delete, sql: str) -> None:
        name = tree.this.name
        self._stored(name, sql)  # it must be a table
        where = tree.args.get("where")
        if where is None:
            kept = exp.select("*").from_(STORED + name).where(exp.false())
        else:
            kept = exp.select("*").from_(exp.Table(
                this=exp.to_identifier(STORED + name),
                alias=exp.TableAlias(this=exp.to_identifier(name)))).where(
                exp.not_(exp.func("coalesce", where.this.copy(), exp.false())))
        frame = self._select(kept, sql)
        if any(q is not kept for q in kept.find_all(exp.Query)):  # a subquery: a join, reorders
            frame = frame.orderBy(ROWID)
        before = self._counts[name]
        self._done(before - self._store(name, frame))  # the rows keep their numbers

    def _alter(self, tree: exp.Alter, sql: str) -> None:
        """RENAME TO, DROP COLUMN, ADD COLUMN (NULL in every row); rows keep their numbers. The
        table is not materialised again: its columns are chosen from the stored rows."""
        F = functions(self.spark)
        name = tree.this.name
        stored = self._stored(name, sql)
        count = self._counts[name]
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.AlterRename):
                self._drop(name)
                name = action.this.name
            elif isinstance(action, exp.Drop) and str(action.args.get("kind")) == "COLUMN":
                stored = stored.drop(*[c.name for c in action.args["tables"]])
            elif isinstance(action, exp.ColumnDef):
                kind = action.args["kind"].sql("spark")
                stored = stored.withColumn(action.name, F.lit(None).cast(kind))
            else:
                raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' "
                                          "alters a table in a way the adapter cannot")
            self._register(name, stored)
            self._counts[name] = count
        self._done(0)

    # --- results -------------------------------------------------------------------------

    def _result(self) -> DataFrame:
        if self._frame is None:
            raise SparkError("no result: the last statement was not a query")
        return self._frame

    def _cursor(self) -> Iterator[tuple[Any, ...]]:
        """The result's rows, streamed a partition at a time (a large result never whole on
        the driver)."""
        if self._rows is None:
            rows = self._result().toLocalIterator()
            self._rows = (tuple(_value(v) for v in row) for row in rows)
        return self._rows


def _value(value: Any) -> Any:
    """A value as DuckDB returns it: timestamps in UTC with their zone."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _numbered_rows(stored: DataFrame) -> tuple[DataFrame, int]:
    """Materialised rows (with ``_rowid_`` and ``MID``) numbered, and how many there are."""
    F = functions(stored)
    # One pass over the materialised rows: how many each partition holds unnumbered (their
    # numbers follow on from the partitions before) and the highest number kept.
    parts = stored.groupBy(F.shiftright(MID, 33).alias("p")).agg(
        F.count(F.lit(1)).alias("n"), F.max(ROWID).alias("top")).collect()
    kept = next((r for r in parts if r.p is None), None)
    start = 0 if kept is None or kept.top is None else kept.top + 1
    offsets: list[Any] = []
    for part in sorted((r for r in parts if r.p is not None), key=lambda r: r.p):
        offsets += [F.lit(part.p).cast("long"), F.lit(start - (part.p << 33)).cast("long")]
        start += part.n
    number = F.col(ROWID)
    if offsets:  # a row's place: its partition's offset plus its id within the partition
        number = F.coalesce(number, F.try_element_at(F.create_map(*offsets),
                                                     F.shiftright(MID, 33)) + F.col(MID))
    return (stored.select(*[number.alias(ROWID) if c == ROWID else c
                            for c in stored.columns if c != MID]),
            sum(r.n for r in parts))


def numbered(frame: DataFrame) -> DataFrame:
    """``frame`` materialised, with ``_rowid_`` numbering its rows 0, 1, ... in their order."""
    return _numbered_rows(unnumbered(frame).localCheckpoint())[0]


def unnumbered(frame: DataFrame) -> DataFrame:
    """``frame``'s rows to be numbered in their order (``_store`` numbers them): each with
    its place, which rises with the partition and within it (a row's order in the scan)."""
    F = functions(frame)
    return frame.withColumn(ROWID, F.lit(None).cast("long")).withColumn(
        MID, F.monotonically_increasing_id())


FILE_READERS = ("read_csv", "read_csv_auto", "read_parquet")
# read_csv options Spark's reader takes the same way, or that only tune DuckDB's reader.
CSV_IGNORED = {"all_varchar", "buffer_size", "null_padding", "store_rejects", "rejects_table",
               "rejects_scan", "auto_detect"}


def _options(reader: exp.Expr) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for option in reader.expressions:
        if not isinstance(option, exp.EQ | exp.PropertyEQ):
            continue
        value = option.expression
        if isinstance(value, exp.Struct):
            found[option.this.name.lower()] = {p.this.name: p.expression.name
                                               for p in value.expressions}
        elif isinstance(value, exp.Boolean):
            found[option.this.name.lower()] = value.this
        else:
            found[option.this.name.lower()] = value.name
    return found


def _quoted(path: str, quote: str) -> bool:
    """Whether the file may hold a quoted field (which may span lines). Spark reads a
    multi-line CSV as one task, so a file without the quote character is read line by line,
    in parallel parts: a pass over its bytes is far cheaper than a parse on one core."""
    file = Path(path)
    if not file.is_file() or len(quote.encode()) > 1 or file.suffix.lower() != ".csv":
        return True  # a pattern, a folder, a compressed file: assume it may
    return _holds(str(file.resolve()), quote.encode(), file.stat().st_mtime_ns)


@functools.cache
def _holds(path: str, sought: bytes, _mtime_ns: int) -> bool:
    with open(path, "rb") as stream:
        return any(sought in chunk for chunk in iter(lambda: stream.read(1 << 24), b""))


def read_file(spark: SparkSession, reader: exp.Expr, sql: str,
              rejects: bool = False) -> DataFrame:
    """A file DuckDB's reader would read, read by Spark's: CSV as text only (every column a
    string, as ``all_varchar``), Parquet as it is. ``rejects``: a CSV read with a header
    also gives CORRUPT, the record as written where it is not of the header's width."""
    path = reader.this.name if not isinstance(reader, exp.Anonymous) else \
        reader.expressions[0].name
    if isinstance(reader, exp.ReadParquet) or reader.name.lower() == "read_parquet":
        return spark.read.parquet(path)
    options = _options(reader)
    unknown = set(options) - CSV_IGNORED - {"header", "delim", "sep", "quote", "escape", "skip",
                                            "columns"}
    if unknown or int(options.get("skip") or 0):
        what = ", ".join(sorted(unknown)) or "skip (info lines above the header)"
        raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' reads "
                                  f"a CSV file with {what}, which Spark's reader cannot take")
    columns = options.get("columns")
    if columns and any(t.upper() != "VARCHAR" for t in columns.values()):
        raise SparkError(f"{statement_name(sql)}: a typed CSV read runs on DuckDB only")
    quote = options.get("quote", '"')
    delimiter = str(options.get("delim", options.get("sep", ",")))
    if re.fullmatch(r"\\x[0-9a-fA-F]{2}", delimiter):  # '\x1f', as DuckDB reads it
        delimiter = chr(int(delimiter[2:], 16))
    read = (spark.read.option("header", options.get("header", True))
            .option("sep", delimiter)
            .option("quote", quote or "\u0000").option("escape", options.get("escape", '"'))
            .option("multiLine", bool(quote) and _quoted(path, quote)).option("mode", "PERMISSIVE")
            .option("encoding", "UTF-8"))
    from pyspark.sql.types import StringType, StructField, StructType

    if not columns and rejects and options.get("header", True):
        columns = {c: "VARCHAR" for c in read.csv(path).columns}  # the header alone is read
        columns[CORRUPT] = "VARCHAR"
        read = read.option("columnNameOfCorruptRecord", CORRUPT)
    if columns:
        read = read.schema(StructType([StructField(c, StringType()) for c in columns]))
    return read.csv(path)


CORRUPT = "_corrupt_record_"


def rejected_records(path: str, delimiter: str, width: int, records: list[int]
                     ) -> list[tuple[int, str, str]]:
    """The data records numbered ``records`` (0-based, blank lines not counted) of a CSV file
    with a header: each one's first line, its text as written and DuckDB's error type (the
    file read by Python's csv module: Spark's reader keeps no line numbers)."""
    import csv
    import gzip

    wanted, found = set(records), []
    opener: Any = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        held: list[str] = []

        def lines() -> Iterator[str]:
            for line in handle:
                held.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=delimiter)
        next(reader, None)  # the header
        held.clear()
        number, start = 0, reader.line_num + 1
        for record in reader:
            text, first = "".join(held).rstrip("\r\n"), start
            held.clear()
            start = reader.line_num + 1
            if not record:
                continue
            if number in wanted:
                error = "TOO MANY COLUMNS" if len(record) > width else "MISSING COLUMNS"
                found.append((first, text, error))
            number += 1
    if len(found) != len(records):
        raise SparkError(f"{path}: Spark's reader and Python's csv module split the file into "
                         "different records; use engine: duckdb for this file")
    return found


# Doubles whose text Spark writes as DuckDB does: Java's Double.toString is plain decimal
# only from 10^-3 up to 10^7 (DuckDB writes 10000000.0 where Java writes 1.0E7).
PLAIN_DOUBLES = (1e-3, 1e7)


def stage_parquet(con: SparkConnection, path: str, table: str) -> list[str]:
    """A Parquet file read by Spark's reader as ``table``: ``_row`` (1-based, file order) and
    each column as text, written as DuckDB's ``CAST(column AS VARCHAR)`` writes it. A column
    whose text would differ (nested values, doubles outside PLAIN_DOUBLES) is refused
    naming it. Returns the file's column names."""
    from crmreport.errors import DataError

    F = functions(con.spark)
    frame = con.spark.read.parquet(path)
    texts, doubles = [], []
    for field in frame.schema.fields:
        kind = field.dataType.typeName()
        column = F.col(f"`{field.name}`")
        if kind in ("array", "map", "struct", "binary"):
            raise DataError(f"{path}: column '{field.name}' holds {kind} values, which are "
                            "not supported on Spark (use engine: duckdb, or export it flat)")
        if kind in ("float", "double"):
            doubles.append(field.name)
        text = column.cast("string")
        if kind == "timestamp":  # a UTC instant: DuckDB's TIMESTAMPTZ writes its offset
            text = F.concat(text, F.lit("+00"))
        texts.append(text.alias(field.name))
    _check_plain_doubles(frame, doubles, path)
    rows = numbered(frame.select(*texts))
    con._store(table, rows.select((F.col(ROWID) + 1).cast("bigint").alias("_row"),
                                  *[F.col(f"`{n}`") for n in frame.columns], ROWID))
    return list(frame.columns)


def _check_plain_doubles(frame: DataFrame, names: list[str], path: str) -> None:
    from crmreport.errors import DataError

    F = functions(frame)
    if not names:
        return
    low, high = PLAIN_DOUBLES
    counts = frame.select(*[F.count(F.when(
        ~(F.abs(F.col(f"`{n}`")).between(low, high - 1e-9) | (F.col(f"`{n}`") == 0)), 1)
    ).alias(n) for n in names]).first()
    assert counts is not None
    for name in names:
        if counts[name]:
            raise DataError(f"{path}: column '{name}' holds {counts[name]:,} floating-point "
                            f"values below {low:g} or from {high:,.0f} up (or not a number), "
                            "which Spark writes as text unlike DuckDB: not supported on Spark "
                            "(use engine: duckdb, or store the column as a decimal)")
