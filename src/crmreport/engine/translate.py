"""Stage SQL, written in DuckDB's dialect, as Spark SQL: parsed and generated with sqlglot.

Only what sqlglot does not already map is rewritten here (see the portable subset in the
package docstring); a construct neither can express raises a CrmError naming the statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from crmreport.errors import CrmError

# DuckDB functions with no Spark counterpart under any name: refused up front, by name.
UNPORTABLE = {"hash", "rowid_of", "read_json", "parquet_file_metadata", "duckdb_tables",
              "duckdb_views", "string_split_regex"}


class UntranslatableError(CrmError):
    """A statement the Spark adapter cannot run as it is written."""


def statement_name(sql: str) -> str:
    """The statement's first line, short: how an error names it (never its data)."""
    first = next((line.strip() for line in sql.splitlines() if line.strip()), "")
    return first[:80] + ("..." if len(first) > 80 else "")


def parse(sql: str) -> list[exp.Expr]:
    try:
        return [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as exc:
        raise UntranslatableError(f"engine spark: cannot parse the statement "
                                  f"'{statement_name(sql)}': {str(exc).splitlines()[0]}") from None


def literal(value: object) -> exp.Expr:
    """A Python value as a SQL literal of the type DuckDB would bind it as."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(repr(value))
    if isinstance(value, Decimal):
        return exp.cast(exp.Literal.number(format(value, "f")), _decimal_type(value))
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[literal(v) for v in value])
    raise TypeError(f"cannot bind a {type(value).__name__} as a SQL parameter")


def _decimal_type(value: Decimal) -> str:
    digits = value.as_tuple()
    scale = max(-int(digits.exponent), 0)
    return f"DECIMAL({max(len(digits.digits), scale + 1)}, {scale})"


def bind_tree(tree: exp.Expr, parameters: object) -> exp.Expr:
    """``?`` (in order) and ``$name`` parameters replaced by literals."""
    if parameters is None:
        return tree
    positional = list(parameters) if isinstance(parameters, Sequence) else []
    named = parameters if isinstance(parameters, Mapping) else {}
    index = 0

    def replace(node: exp.Expr) -> exp.Expr:
        nonlocal index
        if isinstance(node, exp.Placeholder):
            if node.this:
                return literal(named[node.name])
            index += 1
            return literal(positional[index - 1])
        if isinstance(node, exp.Parameter):
            return literal(named[node.name])
        return node

    return tree.transform(replace, copy=True)


def bind(sql: str, parameters: Sequence[object]) -> str:
    """``sql`` with its parameters as literals, still in DuckDB's dialect."""
    return "; ".join(bind_tree(t, parameters).sql("duckdb") for t in parse(sql))


def _portable(node: exp.Expr) -> exp.Expr:
    """DuckDB constructs sqlglot leaves as they are, in forms Spark has."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.UBIGINT:
        inner = node.this.unnest()
        if isinstance(inner, exp.DPipe) and inner.this.name.lower() == "0x":
            # hex digits as a number: ('0x' || h)::UBIGINT
            number = exp.func("conv", inner.expression, exp.Literal.number(16),
                              exp.Literal.number(10))
            return exp.cast(number, "DECIMAL(20, 0)")
        return exp.cast(inner, "DECIMAL(20, 0)")
    return node


def to_spark(tree: exp.Expr, sql: str) -> str:
    """The statement in Spark's dialect; raises naming it and the construct it cannot take."""
    for function in tree.find_all(exp.Anonymous):
        if function.name.lower() in UNPORTABLE:
            raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' uses "
                                      f"{function.name}(), which Spark has no counterpart of")
    portable = tree.transform(_portable, copy=True)
    try:
        return portable.sql("spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' cannot "
                                  f"be written for Spark: {exc}") from None
