"""The SQL engine. Heavy work runs as SQL; pandas only holds small results.

DuckDB, embedded, is the default. ``connect(kind="spark")`` gives the same interface over a
SparkSession (engine/spark.py, needs the optional ``spark`` extra): the stages keep one SQL
source in DuckDB's dialect, which the adapter translates with sqlglot.

The portable subset: what stage SQL may use so that both engines give the same answer.

- Assignments and draws use ``md5`` of text (never DuckDB's ``hash()``, which changed between
  versions and which Spark computes differently). Hex digits become a number with
  ``('0x' || hex)::UBIGINT``, which the adapter writes as Spark's ``conv``.
- Decimal division is explicit: cast one side to DOUBLE or round to a stated scale; money stays
  DECIMAL (Spark turns an overflowing decimal into NULL unless ANSI mode is on: it is on).
- Date arithmetic is explicit (``date + INTEGER``, ``date_diff('day', a, b)``), never
  ``date - date`` giving an interval.
- Row order: DuckDB keeps insertion order; Spark keeps it only within a scan. The adapter
  numbers each stored table's rows (DuckDB's ``rowid``, kept across DELETE as DuckDB keeps
  it) and gives an empty ``OVER ()`` of lag/lead/row_number the scan's order.
- No ASOF JOIN (a join and ``row_number() ... = 1`` says the same); no QUALIFY.
- Emulated by the adapter, so usable: CREATE/INSERT [BY NAME]/UPDATE [FROM]/DELETE/ALTER
  (RENAME, ADD/DROP COLUMN), temp macros (expanded where called), ``SELECT * EXCLUDE``,
  ``read_csv`` (as text) and ``read_parquet``, ``MAP {...}[key]``, ``json_object``.
- Not translated (DuckDB only, the stage falls back or the statement is refused):
  ``read_csv`` with typed ``columns`` (identify's typed lane: staging runs instead) or
  ``skip`` (the reader copies such a file without its info lines), ``hash()``,
  ``read_json`` (JSON lines are refused on Spark), ``parquet_file_metadata`` (Parquet has
  its own Spark path in ingest/readers.py). ``generate_series`` as a table: pass a list.
- DuckDB's catalog (``duckdb_tables()``, ``DESCRIBE``) is asked through ``has_table``,
  ``columns`` and ``table_names`` here, which both engines answer.

A statement the adapter cannot translate raises a CrmError naming the statement and the
construct.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import duckdb

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

# Errors of either engine: the Spark adapter raises subclasses of DuckDB's, so stage code
# catches one type.
Error = duckdb.Error

ENGINES = ("duckdb", "spark")


class Connection(Protocol):
    """What the stages ask of an engine: DuckDB's connection as it is, or the Spark adapter.

    ``execute`` returns the connection, whose ``fetch*``/``df`` give that statement's result.
    """

    def execute(self, query: str, parameters: object = None, /) -> Connection: ...

    def executemany(self, query: str, parameters: object = None, /) -> Connection: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchmany(self, size: int = 1, /) -> list[tuple[Any, ...]]: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    @property
    def description(self) -> list[Any] | None: ...

    def df(self) -> pd.DataFrame: ...

    def fetchnumpy(self) -> dict[str, Any]: ...

    def register(self, view_name: str, python_object: object, /) -> Connection: ...

    def unregister(self, view_name: str, /) -> Connection: ...

    def close(self) -> None: ...


class Catalog(Protocol):
    """The catalog questions, for an engine without DuckDB's catalog functions."""

    def has_table(self, name: str) -> bool: ...

    def columns(self, relation: str) -> list[tuple[str, str]]: ...

    def table_names(self, prefix: str) -> list[str]: ...


def connect(memory_limit: str = "4GB", threads: int | None = None, *,
            kind: str = "duckdb", master: str = "local[2]",
            conf: Mapping[str, str] | None = None) -> Connection:
    """An engine: DuckDB in memory (spilling to disk past ``memory_limit``), or Spark at
    ``master`` (``local[2]``, a cluster URL or a Spark Connect server ``sc://host:port``);
    ``conf``: Spark settings for the session. The campaign's ``engine`` setting or
    ``--engine`` chooses (pipeline)."""
    if kind == "spark":
        from crmreport.engine.spark import connect_spark

        return connect_spark(master, conf)
    if kind != "duckdb":
        from crmreport.errors import CrmError

        raise CrmError(f"unknown engine '{kind}'; use one of: {', '.join(ENGINES)}")
    return _duckdb(memory_limit, threads)


def _duckdb(memory_limit: str, threads: int | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = true")
    # DuckDB plans `x IN (...)` with five or more values as a join, and a table created through
    # a join is not stored in its source's order: a large export would lose its row order.
    con.execute("SET disabled_optimizers = 'in_clause'")
    _session(con)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _session(con: duckdb.DuckDBPyConnection) -> None:
    """The settings each connection has of its own (the others are the database's)."""
    con.execute("SET TimeZone = 'UTC'")  # timestamps without an offset must not follow the host


def is_spark(con: Connection) -> bool:
    """Whether ``con`` is the Spark adapter (a reader with a Spark path of its own asks)."""
    return hasattr(con, "spark")


def second_connection(con: Connection) -> Connection | None:
    """Another connection to ``con``'s database, for queries run in another thread at the same
    time (one connection runs one statement at a time), or None where the engine has none
    (Spark). It sees the stored tables, not ``con``'s temporary tables and macros."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    other = con.cursor()
    _session(other)
    return other


def _catalog(con: Connection) -> Catalog | None:
    return con if hasattr(con, "table_names") else None  # type: ignore[return-value]


def has_table(con: Connection, name: str) -> bool:
    """Whether a table or view ``name`` exists."""
    catalog = _catalog(con)
    if catalog is not None:
        return catalog.has_table(name)
    return bool(con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = ? UNION ALL "
        "SELECT 1 FROM duckdb_views() WHERE view_name = ? AND NOT internal",
        [name, name]).fetchall())


def is_view(con: Connection, name: str) -> bool:
    catalog = _catalog(con)
    if catalog is not None:
        return False  # the adapter drops either kind with DROP TABLE
    return bool(con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = ? AND NOT internal",
                            [name]).fetchall())


# The columns of the one view of that name (none when a table or a second view has it).
_VIEW_COLUMNS = """SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $1
    AND NOT internal
    AND (SELECT count(*) FROM duckdb_views() WHERE view_name = $1 AND NOT internal) = 1
    AND NOT EXISTS (SELECT 1 FROM duckdb_tables() WHERE table_name = $1)
    ORDER BY column_index"""


def columns(con: Connection, relation: str) -> list[tuple[str, str]]:
    """The (name, type) of each column of a table, a view, or ``SELECT ...`` text."""
    catalog = _catalog(con)
    if catalog is not None:
        return catalog.columns(relation)
    if relation.isidentifier():  # a view's columns as stored: DESCRIBE would bind it again,
        rows = con.execute(_VIEW_COLUMNS, [relation]).fetchall()  # its CSV sniffed again
        if rows:
            return [(str(r[0]), str(r[1])) for r in rows]
    rows = con.execute(f"DESCRIBE {relation}").fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def table_names(con: Connection, prefix: str) -> list[str]:
    """The tables and views whose names start with ``prefix``, sorted."""
    catalog = _catalog(con)
    if catalog is not None:
        return catalog.table_names(prefix)
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?) UNION "
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND starts_with(view_name, ?)",
        [prefix, prefix]).fetchall()
    return sorted(str(r[0]) for r in rows)

