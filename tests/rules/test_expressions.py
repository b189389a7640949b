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
    assert "'o''neil'" in sql and "2026-03-01" in sql and "NOT o.customer_id IS NULL" in sql
