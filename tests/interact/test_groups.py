import math

import duckdb

from crmreport.interact import draw, draw_sql, is_control


def test_sql_and_python_draws_agree() -> None:
    ids = [f"C{i:06d}" for i in range(500)] + ["ü-ß", "O'Brien"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (customer_id VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in ids])
    query = "SELECT customer_id, " + draw_sql("se'ed") + " FROM t"
    sql = dict(con.execute(query).fetchall())
    assert all(abs(sql[i] - draw("se'ed", i)) < 1e-12 for i in ids)


def test_control_share_is_within_binomial_tolerance_and_stable() -> None:
    n, share = 20_000, 0.1
    held = sum(is_control("spring", f"C{i}", share) for i in range(n))
    assert abs(held / n - share) < 3 * math.sqrt(share * (1 - share) / n)
    first = [is_control("spring", f"C{i}", share) for i in range(1000)]
    assert first == [is_control("spring", f"C{i}", share) for i in range(1000)]
    other_seed = [is_control("autumn", f"C{i}", share) for i in range(1000)]
    assert first != other_seed
