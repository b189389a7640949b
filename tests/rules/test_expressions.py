import datetime as dt

import duckdb
import pytest

from crmreport.rules import RuleProblem, check, compile_condition

COLUMNS = ["customer_id", "recency_days", "frequency", "country", "monetary", "top_category"]
AS_OF = dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    "text",
    [
        "recency_days <= 90 AND frequency >= 2",
        "NOT (country IN ('DE', 'AT')) OR monetary BETWEEN 10 AND 100.5",
        "top_category IS NOT NULL AND lower(country) LIKE 'd%'",
        "coalesce(monetary, 0) * 2 - 1 > abs(-3) % 2",
        "TRUE",
    ],
)
def test_allowed_conditions_compile_and_run(text: str) -> None:
    sql = compile_condition(check(text, COLUMNS), AS_OF)
    con = duckdb.connect()
    con.execute("CREATE TABLE features AS SELECT 'C1' AS customer_id, 5 AS recency_days, "
                "3 AS frequency, 'DE' AS country, 50.0 AS monetary, 'books' AS top_category")
    assert con.execute(f"SELECT {sql} FROM features").fetchone() is not None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("DROP TABLE customers", "statements are not allowed"),
        ("recency_days > 1; DROP TABLE customers", "2 statements"),
        ("(SELECT 1) = 1", "subqueries are not allowed"),
        ("customer_id IN (SELECT customer_id FROM customers)", "subqueries are not allowed"),
        ("read_csv('/etc/passwd') IS NOT NULL", "unknown function 'read_csv'"),
        ("recency_days < 5 -- and then", "comments are not allowed"),
        ("recency_days < 5 /* hidden */", "comments are not allowed"),
        ("f.recency_days > 1", "names a table"),
        ("CAST(recency_days AS INT) > 1", "unknown function 'cast'"),
        ("recency > 30", "did you mean 'recency_days'"),
        ("bought_categroy('outdoor', 30)", "did you mean 'bought_category'"),
        ("bought_category(country, 30)", "wrong arguments"),
        ("   ", "empty"),
        ("recency_days >", "cannot parse"),
    ],
)
def test_hostile_or_wrong_conditions_are_rejected(text: str, needle: str) -> None:
    with pytest.raises(RuleProblem) as info:
        check(text, COLUMNS)
    assert needle in f"{info.value.message} {info.value.fix}"


def test_helper_expands_to_checked_sql_with_escaped_literal() -> None:
    sql = compile_condition(check("bought_category('o''neil', 30)", COLUMNS), AS_OF)
    assert "'o''neil'" in sql and "2026-03-01" in sql and "PURCHASES(" in sql


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("contacted_within('30')", "write contacted_within(<days>) with literal values"),
        ("contacted_within(-30)", "wrong arguments"),
        ("contacted_within(30.5)", "wrong arguments"),
        ("contacted_in(2025)", "wrong arguments"),
        ("in_list(customer_id, 'vip-list')", "with a column name"),
        ("in_list('vip-list', 'C1')", "with a column name"),
        ("in_list('vip-list', f.customer_id)", "wrong arguments"),
        ("in_list('vip-lsit', customer_id)", "did you mean 'vip-list'"),
        ("in_list('nope', customer_id)", "declare it under lists"),
        ("in_list('vip-list', no_such_column)", "unknown column 'no_such_column'"),
        ("in_list('vip-list', (SELECT 1))", "wrong arguments"),
        ("contacted_within(30) OR read_parquet('x') IS NULL", "unknown function"),
    ],
)
def test_helpers_reject_wrong_arguments_and_unknown_lists(text: str, needle: str) -> None:
    with pytest.raises(RuleProblem) as info:
        check(text, COLUMNS, ["vip-list"])
    assert needle in f"{info.value.message} {info.value.fix}"


def test_contact_and_list_helpers_run_against_history_and_lists() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE features AS SELECT * FROM (VALUES ('C1'), ('C2'), ('C3')) "
                "t(customer_id)")
    con.execute("CREATE TABLE contacts AS SELECT * FROM (VALUES "
                "('C1', 'spring', DATE '2026-02-20', 'treatment'), "
                "('C2', 'spring', DATE '2026-02-20', 'control'), "
                "('C3', 'autumn', DATE '2025-10-01', 'treatment'), "
                "(NULL, 'autumn', DATE '2026-02-28', 'treatment')) "
                "t(customer_id, campaign, contacted_at, test_group)")
    con.execute("CREATE TABLE rule_lists AS SELECT 'vip-list' AS list, 'customer_id' AS col, "
                "'C2' AS value")

    def who(text: str) -> list[str]:
        sql = compile_condition(check(text, COLUMNS, ["vip-list"]), AS_OF)
        return [r[0] for r in con.execute(
            f"SELECT customer_id FROM features WHERE {sql} ORDER BY 1").fetchall()]

    assert who("contacted_within(30)") == ["C1"]  # control is not a contact
    assert who("NOT contacted_within(30)") == ["C2", "C3"]  # a NULL id never poisons NOT IN
    assert who("contacted_in('autumn')") == ["C3"]
    assert who("in_list('vip-list', customer_id)") == ["C2"]
    assert who("NOT in_list('vip-list', customer_id)") == ["C1", "C3"]


def test_a_renamed_feature_says_what_to_write_now() -> None:
    with pytest.raises(RuleProblem) as info:
        check("frequency >= 2", ["customer_id", "repeat_orders"])
    assert info.value.message == "column 'frequency' was renamed"
    assert info.value.fix.startswith("write 'repeat_orders' (purchases after the first one")


@pytest.mark.parametrize(("text", "message"), [
    ("(" * 500 + "recency_days > 1" + ")" * 500, "nests more than 50 levels"),
    ("(" * 60 + "recency_days > 1" + ")" * 60, "nests more than 50 levels"),
    ("recency_days" + " + 1" * 60 + " > 0", "nests more than 50 levels"),
    ("recency_days IN (" + ",".join(["1"] * 2100) + ")", "more than 2,000 parts"),
    ("recency_days > 1 OR " * 600 + "TRUE", "characters long"),
    ("recency_days % 0 = 1", "divides by zero"),
    ("recency_days / (0.0) > 1", "divides by zero"),
    ("'x'", "is not a condition"),
    ("1", "is not a condition"),
    ("recency_days + 1", "is not a condition"),
])
def test_oversized_and_meaningless_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(RuleProblem, match=message) as caught:
        check(text, COLUMNS)
    assert caught.value.fix


def test_a_value_need_not_be_a_condition() -> None:
    assert check("monetary * 0.1", COLUMNS, boolean=False) is not None


def test_modulo_by_a_zero_column_is_null_not_an_error() -> None:
    sql = compile_condition(check("recency_days % frequency = 0", COLUMNS), AS_OF)
    con = duckdb.connect()
    con.execute("CREATE TABLE features AS SELECT 5 AS recency_days, 0 AS frequency")
    assert con.execute(f"SELECT {sql} FROM features").fetchone() == (None,)


@pytest.mark.parametrize("text", ["country = DE", "DE <> country", "country IN ('AT', DE)"])
def test_an_unquoted_value_compared_with_a_column_says_to_quote_it(text: str) -> None:
    with pytest.raises(RuleProblem) as caught:
        check(text, COLUMNS)
    assert caught.value.message == "unknown column 'DE'"
    assert caught.value.fix == "to compare with the text DE, quote it: 'DE'"


def test_an_unknown_column_compared_with_a_number_still_suggests_a_column() -> None:
    with pytest.raises(RuleProblem) as caught:
        check("recncy_days > 90", COLUMNS)
    assert caught.value.fix == "did you mean 'recency_days'?"
