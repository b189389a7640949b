"""The engine's connection settings."""

from crmreport.engine import columns, connect, second_connection


def test_a_long_in_list_is_not_planned_as_a_join() -> None:
    """A table created through a join is not stored in its source's order."""
    con = connect()
    sql = "SELECT i IN (1, 2, 3, 4, 5, 6, 7) AS hit FROM range(10) t(i)"
    plan = con.execute(f"EXPLAIN {sql}").fetchall()[0][1]
    assert "JOIN" not in plan.upper()
    assert [r[0] for r in con.execute(sql).fetchall()] == [False] + [True] * 7 + [False] * 2


def test_a_second_connection_sees_the_stored_tables_not_the_first_ones_own() -> None:
    con = connect()
    con.execute("SET GLOBAL TimeZone = 'America/New_York'")  # a host's zone, not UTC
    con.execute("CREATE TABLE stored AS SELECT 1 AS x")
    con.execute("CREATE TEMP TABLE own AS SELECT 2 AS x")
    other = second_connection(con)
    assert other is not None
    assert other.execute("SELECT x FROM stored").fetchall() == [(1,)]
    assert other.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
    assert not other.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'own'").fetchall()


def test_spark_has_no_second_connection() -> None:
    spark_like = type("SparkAdapter", (), {"spark": object()})()
    assert second_connection(spark_like) is None


def test_a_views_columns_are_its_own_even_named_as_a_catalog_view():
    con = connect()
    con.execute("CREATE VIEW tables AS SELECT 1 AS a, 'x' AS \"odd name\"")
    con.execute("CREATE VIEW v AS SELECT 2.5::DECIMAL(9, 2) AS d")
    assert columns(con, "tables") == [("a", "INTEGER"), ("odd name", "VARCHAR")]
    assert columns(con, "v") == [("d", "DECIMAL(9,2)")]
