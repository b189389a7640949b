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
UNPORTABLE = {"hash", "read_json", "parquet_file_metadata", "duckdb_tables",
              "duckdb_views"}


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

    def given(name: str) -> exp.Expr:  # $name, or $1: the first of a list
        return literal(positional[int(name) - 1] if name.isdigit() and not named
                       else named[name])

    def replace(node: exp.Expr) -> exp.Expr:
        nonlocal index
        if isinstance(node, exp.Placeholder):
            if node.this:
                return given(node.name)
            index += 1
            return literal(positional[index - 1])
        if isinstance(node, exp.Parameter):
            return given(node.name)
        return node

    return tree.transform(replace, copy=True)


# Window functions whose result depends on the rows' order.
IN_ORDER = (exp.Lag, exp.Lead, exp.RowNumber, exp.FirstValue, exp.LastValue, exp.NthValue)

# DuckDB functions Spark has under another name, with the same arguments and meaning.
RENAMED = {"strlen": "octet_length", "suffix": "endswith", "error": "raise_error"}


def _portable(node: exp.Expr) -> exp.Expr:
    """DuckDB constructs sqlglot leaves as they are, in forms Spark has."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.UBIGINT:
        inner = node.this.unnest()
        if isinstance(inner, exp.DPipe) and inner.this.name.lower() == "0x":
            # hex digits as a number: ('0x' || h)::UBIGINT
            number = _call("conv", inner.expression, exp.Literal.number(16),
                              exp.Literal.number(10))
            return exp.cast(number, "DECIMAL(20, 0)")
        return exp.cast(inner, "DECIMAL(20, 0)")
    if isinstance(node, exp.Div) and not _is_double(node.this):
        # DuckDB's / is a division of doubles, decimals included; Spark's keeps decimals exact
        return exp.Div(this=exp.cast(node.this, "DOUBLE"), expression=node.expression)
    if isinstance(node, exp.Round) and isinstance(node.this.unnest(), exp.Div) and \
            node.args.get("decimals") is not None:
        # a division's result is known to be a double (above); a column's type is not
        return _round_double(node.this, node.args["decimals"])
    if isinstance(node, exp.Window) and not node.args.get("partition_by") and \
            not node.args.get("order") and not node.args.get("alias") and \
            isinstance(node.this, IN_ORDER):
        # An empty OVER () is the rows' order in DuckDB; Spark needs it said: the order its
        # scan returns them in (a stored table's insertion order, a file's line order).
        order = exp.Order(expressions=[exp.Ordered(this=_call("monotonically_increasing_id"))])
        return exp.Window(this=node.this, order=order, alias=node.args.get("alias"))
    if isinstance(node, exp.ToMap) and isinstance(node.this, exp.Bracket):
        # MAP {'k': 'v', ...}[key]: NULL for a key the map lacks, as in DuckDB
        pairs = [part for p in node.this.this.expressions for part in (p.this, p.expression)]
        return _call("try_element_at", _call("map", *pairs),
                        *node.this.expressions)
    if isinstance(node, exp.Order) and isinstance(node.parent, exp.Select) and \
            [o.this for o in node.expressions] == [exp.var("ALL")]:
        # ORDER BY ALL (Spark 3.5 lacks it): every column of the SELECT, by position
        nulls_first = bool(node.expressions[0].args.get("nulls_first"))
        return exp.Order(expressions=[
            exp.Ordered(this=exp.Literal.number(i), nulls_first=nulls_first)
            for i in range(1, len(node.parent.expressions) + 1)])
    if isinstance(node, exp.Grouping) and len(node.expressions) > 1:
        # grouping(a, b): a bit for each column left out of the set, the first the highest
        # (Spark's grouping_id takes only all the grouping columns)
        last = len(node.expressions) - 1
        bits: list[exp.Expr] = [
            exp.Mul(this=exp.Grouping(expressions=[column.copy()]),
                    expression=exp.Literal.number(2 ** (last - i)))
            for i, column in enumerate(node.expressions)]
        total = bits[0]
        for bit in bits[1:]:
            total = exp.Add(this=total, expression=bit)
        return exp.Paren(this=total)
    if isinstance(node, exp.RegexpFullMatch):  # the whole text matches (\\z: its very end)
        pattern = exp.DPipe(this=exp.Literal.string("^(?:"), expression=exp.DPipe(
            this=node.expression, expression=exp.Literal.string(")\\z")))
        return exp.RegexpLike(this=node.this, expression=exp.Paren(this=pattern))
    if isinstance(node, exp.JSONObject):
        # json_object('k', v, ...): NULL values written out, as DuckDB writes them
        fields = [part for kv in node.expressions for part in (kv.this, kv.expression)]
        return _call("to_json", _call("named_struct", *fields),
                        _call("map", exp.Literal.string("ignoreNullFields"),
                                 exp.Literal.string("false")))
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name in RENAMED:
            return exp.Anonymous(this=RENAMED[name], expressions=node.expressions)
        if name == "try_strptime":
            return _try_parse_time(node)
        if name == "current_setting" and node.expressions[0].name == "threads":
            return exp.Literal.number(2)  # only sizes the slices of an ordered pass
        if name == "isfinite":  # NaN and the infinities are not below infinity; NULL stays
            return exp.LT(this=exp.Abs(this=node.expressions[0]),
                          expression=exp.cast(exp.Literal.string("Infinity"), "DOUBLE"))
    return node


# DuckDB rounds a double's exact binary value half away from zero (39.525, stored as
# 39.52499..., to 39.52); Spark rounds its shortest decimal writing (to 39.53). y = x * 10^n
# rounded is exact but where y is a tie: there the sign of the product's rounding error (lo,
# Dekker's two-product with Veltkamp's split of x; 10^n has too few bits to need one) says
# which side the exact product lies on. floor: |y| below 2^63.
_Y = "(:x * :p)"
_C = "(CAST(134217729 AS DOUBLE) * :x)"
_XH = f"({_C} - ({_C} - :x))"
_LO = f"(({_XH} * :p - {_Y}) + (:x - {_XH}) * :p)"
ROUND_DOUBLE = sqlglot.parse_one(
    f"CASE WHEN {_Y} - FLOOR({_Y}) <> 0.5 THEN ROUND({_Y}) "
    f"WHEN {_LO} < 0 OR ({_LO} = 0 AND {_Y} < 0) THEN CAST(FLOOR({_Y}) AS DOUBLE) "
    f"ELSE CAST(CEIL({_Y}) AS DOUBLE) END / :p", read="spark")


def _round_double(number: exp.Expr, decimals: exp.Expr) -> exp.Expr:
    """round(number, decimals) of a double as DuckDB rounds it (see ROUND_DOUBLE)."""
    scale = _call("power", exp.cast(exp.Literal.number(10), "DOUBLE"), decimals)
    return exp.Paren(this=exp.replace_placeholders(ROUND_DOUBLE.copy(),
                                                   x=exp.Paren(this=number), p=scale))


def _is_double(node: exp.Expr) -> bool:
    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DOUBLE


def _call(name: str, *arguments: exp.Expr) -> exp.Expr:
    """A Spark function call, written as it is (not mapped by sqlglot)."""
    return exp.Anonymous(this=name, expressions=list(arguments))


def _try_parse_time(node: exp.Anonymous) -> exp.Expr:
    """try_strptime(text, format): Spark's try_to_timestamp with the format in its notation
    (sqlglot converts the notation for strptime, which it knows). A list of formats: the
    first that reads the text, as DuckDB tries them."""
    text, formats = node.expressions[0], node.expressions[1]
    if isinstance(formats, exp.Array):
        return exp.Coalesce(this=_try_parse_time(exp.Anonymous(
            this=node.this, expressions=[text, formats.expressions[0]])),
            expressions=[_try_parse_time(exp.Anonymous(this=node.this, expressions=[
                text, f])) for f in formats.expressions[1:]])
    known = exp.StrToTime(this=exp.column("x"), format=formats.copy())
    written = known.sql("spark")  # TO_TIMESTAMP(x, '<format>')
    spark_format = written[written.index("'") + 1: written.rindex("'")].replace("''", "'")
    return _call("try_to_timestamp", node.expressions[0], exp.Literal.string(spark_format))


def to_spark(tree: exp.Expr, sql: str) -> str:
    """The statement in Spark's dialect; raises naming it and the construct it cannot take."""
    for function in tree.find_all(exp.Anonymous):
        if function.name.lower() in UNPORTABLE:
            raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' uses "
                                      f"{function.name}(), which Spark has no counterpart of")
    portable = tree.transform(_portable, copy=True)
    for _ in range(8):  # a rewritten node's arguments are rewritten on the next pass
        again = portable.transform(_portable, copy=True)
        if again == portable:
            break
        portable = again
    try:
        return portable.sql("spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise UntranslatableError(f"engine spark: the statement '{statement_name(sql)}' cannot "
                                  f"be written for Spark: {exc}") from None
