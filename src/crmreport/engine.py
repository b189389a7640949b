"""The embedded SQL engine. Heavy work runs as DuckDB SQL; pandas only holds small results."""

from __future__ import annotations

import duckdb

Connection = duckdb.DuckDBPyConnection


def connect(memory_limit: str = "4GB", threads: int | None = None) -> Connection:
    """An in-memory DuckDB that spills to disk past ``memory_limit`` instead of failing."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = true")
    # DuckDB plans `x IN (...)` with five or more values as a join, and a table created through
    # a join is not stored in its source's order: a large export would lose its row order.
    con.execute("SET disabled_optimizers = 'in_clause'")
    con.execute("SET TimeZone = 'UTC'")  # timestamps without an offset must not follow the host
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con
