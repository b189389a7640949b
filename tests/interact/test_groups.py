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


def test_variant_draws_agree_in_sql_and_python_and_hold_their_shares() -> None:
    from crmreport.interact import pick_variant, variant_sql

    variants = [("A", 0.2), ("B", 0.3), ("C", 0.5)]
    ids = [f"C{i:06d}" for i in range(6000)] + ["ü-ß", "O'Brien"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (customer_id VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in ids])
    choice = variant_sql("se'ed", variants)
    sql = dict(con.execute(f"SELECT customer_id, {choice} FROM t").fetchall())
    assert all(sql[i] == pick_variant("se'ed", i, variants) for i in ids)
    n = len(ids)
    for ident, share in variants:
        got = sum(v == ident for v in sql.values()) / n
        assert abs(got - share) < 3.5 * math.sqrt(share * (1 - share) / n), ident
    # independent of the control draw: each variant is held out at the control share
    for ident, _ in variants:
        members = [i for i in ids if sql[i] == ident]
        held = sum(is_control("se'ed", i, 0.1) for i in members) / len(members)
        assert abs(held - 0.1) < 3.5 * math.sqrt(0.09 / len(members)), ident
