import datetime as dt
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmreport.config import load_campaign
from crmreport.errors import RuleError
from crmreport.pipeline import prepare
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


OFFER_CAMPAIGN = """\
campaign: offers
as_of: 2026-03-01
data: {{customers: {{path: c.csv}}, orders: {{path: o.csv}}}}
lists: {{vip-list: vip.csv}}
segments:
  - {{id: all, when: "TRUE"}}
offers:
{offers}
policy: {{seed: s}}
channels: {{email: {{from: "a <a@b.example>", unsubscribe_url: "https://b.example/{{token}}",
          unsubscribe_mailto: "u@b.example"}}}}
"""


def _offer(ident: str, priority: int, value: str, when: str = "TRUE") -> str:
    return (f"  - {{id: {ident}, segments: [all], priority: {priority}, value: {value}, "
            f"when: \"{when}\", channels: [email], templates: {{email: x}}}}")


values = st.sampled_from(["0", "5", "10", "'frequency * 2'", "'coalesce(recency_days, 7)'",
                          "'recency_days'"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), values), min_size=1, max_size=4),
       customers)
def test_offer_choice_is_priority_then_value_then_file_order(
    offers: list[tuple[int, str]], people: list[tuple[int | None, int]]
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(OFFER_CAMPAIGN.format(offers="\n".join(
            _offer(f"o{i}", p, v) for i, (p, v) in enumerate(offers))))
        (Path(tmp) / "vip.csv").write_text("customer_id\nC0\n")
        rules = compile_rules(load_campaign(path), COLUMNS)
    con = _features([(f"C{i}", r, f) for i, (r, f) in enumerate(people)])
    assign(con, rules)
    got = dict(con.execute("SELECT customer_id, offer FROM assignments").fetchall())
    for i, (recency, frequency) in enumerate(people):
        def worth(v: str, r: int | None = recency, f: int = frequency) -> float:
            text = v.strip("'")
            if text == "frequency * 2":
                return f * 2
            if text.startswith("coalesce"):
                return r if r is not None else 7
            if text == "recency_days":
                return r if r is not None else 0  # NULL counts as 0
            return float(text)
        best = min(range(len(offers)), key=lambda j: (-offers[j][0], -worth(offers[j][1]), j))
        assert got[f"C{i}"] == f"o{best}"


def test_in_list_reads_the_named_column_else_the_first(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(OFFER_CAMPAIGN.format(offers=_offer(
        "vip", 1, "0", "in_list('vip-list', customer_id)")))
    (tmp_path / "vip.csv").write_text("email,Customer_ID\nx@example.de, C2 \n,\n")
    con = _features([("C1", 1, 1), ("C2", 1, 1)])
    assign(con, compile_rules(load_campaign(path), COLUMNS))
    assert con.execute("SELECT customer_id FROM assignments WHERE offer = 'vip'").fetchall() == [
        ("C2",)]


def test_missing_list_file_and_bad_value_expression_are_rule_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(OFFER_CAMPAIGN.format(offers=_offer(
        "vip", 1, "'clv_12 * 0.1'", "in_list('vip-list', customer_id)")))
    with pytest.raises(RuleError) as info:
        compile_rules(load_campaign(path), [*COLUMNS, "clv_12m"])
    text = str(info.value)
    assert "value of offer 'vip': unknown column 'clv_12'" in text and "clv_12m" in text
    assert "list 'vip-list': file" in text and "does not exist" in text


def test_rules_can_test_the_cross_sell_suggestion(shop: Path) -> None:
    text = (shop / "campaign.yaml").read_text().replace(
        'when: "recency_days <= 90"', "when: \"next_category = 'books'\"")
    (shop / "campaign.yaml").write_text(text)
    run = prepare(load_campaign(shop / "campaign.yaml"))
    segments = dict(run.con.execute("SELECT customer_id, segment FROM assignments").fetchall())
    # C1 bought outdoor and books, so a buyer of outdoor (C3) is suggested books; C2, who
    # bought books, outdoor; the others nothing (C4's only order was cancelled).
    assert segments == {"C1": "others", "C2": "others", "C3": "recent", "C4": "others",
                        "C5": "others"}
    suggested = dict(run.con.execute("SELECT customer_id, suggested_category FROM suggestions"
                                  ).fetchall())
    assert suggested == {"C3": "books"}  # only C3 has an offer


@pytest.mark.parametrize("listed", [["5", "7"], []])
@pytest.mark.parametrize("rule", ["in_list('l', recency_days)", "NOT in_list('l', recency_days)"])
def test_in_list_keeps_in_s_answers_for_null_values_and_empty_lists(
        rule: str, listed: list[str]) -> None:
    # the helper is written with EXISTS (hashable on Spark); the reference is a plain IN
    con = _features([("C1", 5, 1), ("C2", 6, 1), ("C3", None, 1)])
    con.execute("CREATE TABLE rule_lists (list VARCHAR, col VARCHAR, value VARCHAR)")
    for value in listed:
        con.execute("INSERT INTO rule_lists VALUES ('l', 'recency_days', ?)", [value])
    sql = compile_condition(check(rule, COLUMNS, lists=["l"]), dt.date(2026, 3, 1))
    reference = rule.replace("in_list('l', recency_days)",
                             "(CAST(recency_days AS VARCHAR) IN (SELECT value FROM rule_lists))")
    got = con.execute(f"SELECT customer_id, {sql}, {reference} FROM features ORDER BY 1"
                      ).fetchall()
    assert [g for _, g, _ in got] == [r for _, _, r in got]
    assert len({g for _, g, _ in got}) > 1 or not listed
