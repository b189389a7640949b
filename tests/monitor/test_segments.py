import duckdb
import pytest

from crmreport.monitor.segments import segment_overview


def test_segment_overview():
    con = duckdb.connect()
    con.execute("CREATE TABLE assignments (customer_id VARCHAR, segment VARCHAR, offer VARCHAR,"
                " recency_days INTEGER, repeat_orders INTEGER, monetary DECIMAL(18,2))")
    con.execute("INSERT INTO assignments VALUES"
                " ('1', 'vip', 'gift', 10, 5, 100.50), ('2', 'vip', NULL, 20, 3, 50.00),"
                " ('3', 'vip', 'gift', 30, 1, 10.00), ('4', 'lapsed', 'winback', 400, 1, 20.00)")
    out = segment_overview(con)
    assert list(out["segment"]) == ["lapsed", "vip"]
    vip = out.set_index("segment").loc["vip"]
    assert vip["customers"] == 3 and vip["share"] == pytest.approx(0.75)
    assert vip["avg_recency_days"] == pytest.approx(20.0)
    assert vip["avg_frequency"] == pytest.approx(3.0)
    assert vip["total_monetary"] == pytest.approx(160.50)
    assert vip["avg_monetary"] == pytest.approx(53.5)
    assert list(out.columns[-3:]) == ["offer:gift", "offer:winback", "offer:(none)"]
    assert (vip["offer:gift"], vip["offer:winback"], vip["offer:(none)"]) == (2, 0, 1)


def test_average_recency_counts_only_customers_who_bought():
    con = duckdb.connect()
    con.execute("CREATE TABLE assignments (customer_id VARCHAR, segment VARCHAR, offer VARCHAR, "
                "recency_days INTEGER, repeat_orders INTEGER, monetary DECIMAL(18,2))")
    con.execute("INSERT INTO assignments SELECT 'P' || i, 'a', NULL, NULL, 0, 0 "
                "FROM range(50) t(i)")  # prospects: no recency
    con.execute("INSERT INTO assignments SELECT 'B' || i, 'a', NULL, 100, 1, 10 "
                "FROM range(50) t(i)")
    row = segment_overview(con).iloc[0]
    assert row["customers"] == 100 and row["buyers"] == 50
    assert row["avg_recency_days"] == 100.0
