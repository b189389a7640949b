"""The engine's connection settings."""

from crmreport.engine import connect


def test_a_long_in_list_is_not_planned_as_a_join() -> None:
    """A table created through a join is not stored in its source's order."""
    con = connect()
    sql = "SELECT i IN (1, 2, 3, 4, 5, 6, 7) AS hit FROM range(10) t(i)"
    plan = con.execute(f"EXPLAIN {sql}").fetchall()[0][1]
    assert "JOIN" not in plan.upper()
    assert [r[0] for r in con.execute(sql).fetchall()] == [False] + [True] * 7 + [False] * 2
