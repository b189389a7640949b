import datetime as dt
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.config import load_campaign
from crmreport.errors import RuleError
from crmreport.rules import UNASSIGNED, CompiledRules, assign, compile_rules
from crmreport.rules.expressions import check, compile_condition

COLUMNS = ["customer_id", "recency_days", "frequency"]


def _features(rows: list[tuple[str, int | None, int]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE features (customer_id VARCHAR, recency_days INTEGER, "
                "frequency INTEGER)")
    con.executemany("INSERT INTO features VALUES (?, ?, ?)", rows)
    return con


customers = st.lists(
    st.tuples(st.none() | st.integers(0, 800), st.integers(0, 20)), min_size=1, max_size=40)
rules = st.lists(
    st.tuples(st.sampled_from(["recency_days", "frequency"]), st.sampled_from(["<=", ">"]),
              st.integers(0, 500)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(customers, rules)
def test_every_customer_lands_in_exactly_one_segment_the_first_match(
    people: list[tuple[int | None, int]], conditions: list[tuple[str, str, int]]
) -> None:
    rows = [(f"C{i}", r, f) for i, (r, f) in enumerate(people)]
    con = _features(rows)
    texts = [f"{col} {op} {val}" for col, op, val in conditions]
    segments = [(f"s{i}", compile_condition(check(t, COLUMNS), dt.date(2026, 3, 1)))
                for i, t in enumerate(texts)]
    assign(con, CompiledRules(segments, []))
    got = dict(con.execute("SELECT customer_id, segment FROM assignments").fetchall())
    assert len(got) == len(rows)
    for cid, recency, frequency in rows:
        values = {"recency_days": recency, "frequency": frequency}
        expected = next((f"s{i}" for i, (col, op, val) in enumerate(conditions)
                         if values[col] is not None
                         and (values[col] <= val if op == "<=" else values[col] > val)),
                        UNASSIGNED)
        assert got[cid] == expected


def test_rule_errors_name_rule_file_and_line_all_at_once(shop: Path) -> None:
    text = (shop / "campaign.yaml").read_text()
    text = text.replace('when: "recency_days <= 90"', 'when: "recency <= 90"')
    text = text.replace('  - {id: others, when: "TRUE"}',
                        '  - {id: others, when: "TRUE; DROP TABLE orders"}')
    (shop / "campaign.yaml").write_text(text)
    loaded = load_campaign(shop / "campaign.yaml")
    with pytest.raises(RuleError) as info:
        compile_rules(loaded, ["recency_days", "customer_id"])
    first, second = info.value.problems
    assert first.line == 11 and "segment 'recent': unknown column 'recency'" in first.message
    assert first.fix == "did you mean 'recency_days'?"
    assert second.line == 12 and "segment 'others'" in second.message
