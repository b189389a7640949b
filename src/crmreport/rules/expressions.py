"""The rule language: SQL boolean expressions over the feature table, checked by allowlist.

A condition is parsed with sqlglot and every node must be of an allowed kind: columns of the
feature table (unqualified), literals, comparison, boolean and arithmetic operators, IN with a
list, BETWEEN, IS [NOT] NULL, [I]LIKE, a few scalar functions, and the named helpers below.
Everything else (statements, subqueries, casts, unknown functions, qualified names, comments,
several statements) is rejected with the rule's id and the offending text. The SQL that runs
is generated from the checked tree, never the user's text, and never through pandas eval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from crmreport.errors import closest
from crmreport.features.rfm import FEATURE_DOCS, RENAMED
from crmreport.tables import RULE_LISTS

ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple,
    exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg,
    exp.In, exp.Between, exp.Is, exp.Like, exp.ILike,
    exp.Coalesce, exp.Abs, exp.Lower, exp.Upper, exp.Least, exp.Greatest, exp.Round,
)


COLUMN = "<column>"  # an argument that must be a feature column, not a literal

# Helper arguments: str or int literals, or COLUMN. Expanded SQL sees only checked values.
Expand = Callable[[tuple[object, ...], dt.date], str]


@dataclass(frozen=True)
class Helper:
    """A named function usable in rules; ``expand`` turns checked arguments into SQL."""

    signature: str
    arg_types: tuple[type | str, ...]
    expand: Expand
    doc: str = ""


def _string(value: object) -> str:
    return exp.Literal.string(str(value)).sql(dialect="duckdb")


# The helpers test membership with EXISTS on an equality, not `x IN (SELECT ...)`: Spark
# plans IN under NOT or in a projection as a row-against-row join (it must keep IN's NULL
# cases), while an equality is hashed on both engines. Inside EXISTS the matched value is
# renamed to MATCH so that the bare column in the equality binds to the feature table.
MATCH = "__crm_match"


def _exists(values: str, column: str) -> str:
    """``column IN (values)`` for a never-NULL ``column`` and NULL-free ``values``."""
    return f"EXISTS (SELECT 1 FROM ({values}) m WHERE m.{MATCH} = {column})"


def _bought(column: str) -> Expand:
    def expand(args: tuple[object, ...], as_of: dt.date) -> str:
        value, days = args
        # purchases (net_orders.py) belong to known customers: no NULL ids on either side
        return _exists(
            f"SELECT o.customer_id AS {MATCH} FROM purchases(DATE '{as_of.isoformat()}') o "
            f"JOIN order_lines l USING (order_id) WHERE lower(l.{column}) = "
            f"{exp.Literal.string(str(value).lower()).sql()} AND o.order_date >= "
            f"DATE '{as_of.isoformat()}' - {int(str(days))}", "customer_id")
    return expand


def _contacted(where: str, as_of: dt.date) -> str:
    """Customers with a treatment contact up to as_of matching ``where``.

    A contact dated on as_of itself counts: another campaign may have gone out that day."""
    return _exists(f"SELECT h.customer_id AS {MATCH} FROM contacts h WHERE h.customer_id IS "
                   f"NOT NULL AND h.test_group = 'treatment' AND h.contacted_at <= "
                   f"DATE '{as_of.isoformat()}' AND {where}", "customer_id")


def _contacted_within(args: tuple[object, ...], as_of: dt.date) -> str:
    # the last N days: (as_of - N, as_of]
    return _contacted(f"h.contacted_at > DATE '{as_of.isoformat()}' - {int(str(args[0]))}",
                      as_of)


def _contacted_in(args: tuple[object, ...], as_of: dt.date) -> str:
    return _contacted(f"h.campaign = {_string(args[0])}", as_of)


def _in_list(args: tuple[object, ...], as_of: dt.date) -> str:
    name, column = args
    listed = (f"SELECT value AS {MATCH} FROM {RULE_LISTS} WHERE list = {_string(name)} AND "
              f"col = {_string(str(column).strip(chr(34)))}")
    # IN's answer for a NULL value: unknown if the list has entries, else false
    return (f"CASE WHEN {column} IS NULL THEN (CASE WHEN EXISTS ({listed}) THEN NULL ELSE "
            f"false END) ELSE {_exists(listed, f'CAST({column} AS VARCHAR)')} END")


HELPERS: dict[str, Helper] = {
    "bought_category": Helper("bought_category('<category>', <days>)", (str, int),
                              _bought("category"),
                              "a purchase with this category in the last <days> days"),
    "bought_product": Helper("bought_product('<sku>', <days>)", (str, int), _bought("sku"),
                             "a purchase with this SKU in the last <days> days"),
    "contacted_within": Helper("contacted_within(<days>)", (int,), _contacted_within,
                               "contacted (treatment) by any campaign in the last <days> days"),
    "contacted_in": Helper("contacted_in('<campaign>')", (str,), _contacted_in,
                           "contacted (treatment) in the named campaign before as_of"),
    "in_list": Helper("in_list('<list>', <column>)", (str, COLUMN), _in_list,
                      "the column's value is in the named list (campaign key 'lists')"),
}


class RuleProblem(Exception):
    """One reason a rule is rejected; the caller adds the rule id and location."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix


# Bounds on a rule, so no rule can exhaust the parser's recursion or the engine's expression
# depth; far above what a readable rule needs.
MAX_TEXT = 10_000  # characters
MAX_DEPTH = 50  # nesting of operators and parentheses
MAX_NODES = 2_000  # columns, literals, operators and functions
# What a condition (not a value) may be at its top: something true, false or NULL. A bare
# column may be a boolean one (email_consent); one that is not fails when the rules run.
BOOLEAN_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column, exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In,
    exp.Between, exp.Is, exp.Like, exp.ILike, exp.Boolean, exp.Null, exp.Anonymous,
)


def check(text: str, columns: Collection[str], lists: Collection[str] = (),
          boolean: bool = True) -> exp.Expr:
    """Parse and check one condition; raise RuleProblem with a fix on the first violation.

    ``lists`` are the names ``in_list`` may use (the campaign's ``lists``); ``boolean``
    False checks a value (a number) instead of a condition.
    """
    if len(text) > MAX_TEXT:
        raise RuleProblem(f"the rule is {len(text):,} characters long (at most {MAX_TEXT:,})",
                          "split it, or put long lists of values in a list file (in_list)")
    tree = _parse(text)
    _check_size(tree)
    for node in tree.walk():
        _check_node(node, columns, lists)
    if boolean:
        _check_boolean(tree)
    return tree


def _check_size(tree: exp.Expr) -> None:
    """Depth and node count, walked without recursion (a deep tree is what is refused)."""
    count, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise RuleProblem(f"the rule nests more than {MAX_DEPTH} levels deep",
                              "drop redundant parentheses; write long OR chains as IN (...)")
        if count > MAX_NODES:
            raise RuleProblem(f"the rule has more than {MAX_NODES:,} parts",
                              "split it, or put long lists of values in a list file (in_list)")
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _check_boolean(tree: exp.Expr) -> None:
    top = tree.unnest()
    if not isinstance(top, BOOLEAN_NODES):
        raise RuleProblem(f"'{tree.sql(dialect='duckdb')}' is not a condition (true or false)",
                          "compare it, e.g. recency_days > 90, or write TRUE")


def used_lists(tree: exp.Expr) -> set[tuple[str, str]]:
    """The (list name, column) pairs a checked condition reads with in_list."""
    return {(str(_literal_value(n.expressions[0])), str(n.expressions[1].name))
            for n in tree.find_all(exp.Anonymous) if str(n.name).lower() == "in_list"}


def compile_condition(tree: exp.Expr, as_of: dt.date) -> str:
    """DuckDB SQL for a checked condition, with helpers expanded."""

    def expand(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Anonymous):
            helper = HELPERS[str(node.name).lower()]
            args = tuple(_arg_value(a) for a in node.expressions)
            return sqlglot.parse_one(helper.expand(args, as_of), read="duckdb")
        if isinstance(node, exp.Mod):  # a divisor that is 0 for a customer: NULL, no match
            return exp.Anonymous(this="TRY", expressions=[node])
        return node

    return f"({tree.copy().transform(expand).sql(dialect='duckdb')})"


def _parse(text: str) -> exp.Expr:
    if not text.strip():
        raise RuleProblem("the condition is empty", "write a condition such as TRUE")
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except RecursionError:
        raise RuleProblem(f"the rule nests more than {MAX_DEPTH} levels deep",
                          "drop redundant parentheses; write long OR chains as IN (...)") from None
    except sqlglot.errors.SqlglotError as exc:
        raise RuleProblem(f"cannot parse '{text}': {str(exc).splitlines()[0]}",
                          "check quotes and parentheses") from None
    if len(statements) != 1 or statements[0] is None:
        raise RuleProblem(f"'{text}' holds {len(statements)} statements",
                          "write a single condition, without ';'")
    return statements[0]


def _check_node(node: exp.Expr, columns: Collection[str], lists: Collection[str]) -> None:
    if node.comments:
        raise RuleProblem("comments are not allowed in conditions", "remove the -- or /* */ part")
    if isinstance(node, exp.Anonymous):
        _check_helper(node, lists)
    elif isinstance(node, exp.Column):
        _check_column(node, columns)
    elif isinstance(node, exp.Func) and not isinstance(node, ALLOWED_NODES):
        raise RuleProblem(f"unknown function '{node.sql_name().lower()}'",
                          f"use one of {', '.join(h.signature for h in HELPERS.values())}")
    elif isinstance(node, exp.Div | exp.Mod) and _is_zero(node.expression):
        raise RuleProblem(f"'{node.sql(dialect='duckdb')}' divides by zero",
                          "divide by a number other than 0")
    elif not isinstance(node, ALLOWED_NODES):
        raise RuleProblem(f"'{node.sql(dialect='duckdb')}' is not allowed ({_kind(node)})",
                          "use comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL, LIKE and "
                          f"the helpers {', '.join(h.signature for h in HELPERS.values())}")


def _is_zero(node: exp.Expr) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Literal) and not node.is_string and float(str(node.this)) == 0


def _check_column(node: exp.Column, columns: Collection[str]) -> None:
    if node.table:
        raise RuleProblem(f"'{node.sql()}' names a table", f"write just '{node.name}'")
    name = node.name
    if name not in columns and RENAMED.get(name) in columns:
        raise RuleProblem(f"column '{name}' was renamed",
                          f"write '{RENAMED[name]}' ({FEATURE_DOCS[RENAMED[name]]})")
    if name not in columns and _compared_with_column(node, columns):
        # country = DE: a value written without quotes reads as a column
        raise RuleProblem(f"unknown column '{name}'",
                          f"to compare with the text {name}, quote it: '{name}'")
    if name not in columns:
        close = closest(name, list(columns))
        fix = f"did you mean '{close}'?" if close else "run `crmreport check` to list columns"
        raise RuleProblem(f"unknown column '{name}'", fix)


COMPARISONS: tuple[type[exp.Expr], ...] = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _compared_with_column(node: exp.Column, columns: Collection[str]) -> bool:
    """Whether ``node`` is a value compared with a known column (``x = V``, ``x IN (V)``)."""
    parent = node.parent
    if isinstance(parent, exp.In) and node is not parent.this:
        other = parent.this
    elif isinstance(parent, COMPARISONS):
        other = parent.expression if node is parent.this else parent.this
    else:
        return False
    return isinstance(other, exp.Column) and other.name in columns


MAX_DAYS = 36_500


def _check_helper(node: exp.Anonymous, lists: Collection[str]) -> None:
    name = str(node.name).lower()
    helper = HELPERS.get(name)
    if helper is None:
        close = closest(name, list(HELPERS))
        fix = f"did you mean '{close}'?" if close else f"known: {', '.join(HELPERS)}"
        raise RuleProblem(f"unknown function '{node.name}'", fix)
    args = node.expressions
    if len(args) != len(helper.arg_types) or not all(
        _fits(a, t) for a, t in zip(args, helper.arg_types, strict=False)
    ):
        what = "a column name" if COLUMN in helper.arg_types else "literal values"
        raise RuleProblem(f"'{node.sql()}' has the wrong arguments",
                          f"write {helper.signature} with {what}")
    if name == "in_list":
        list_name = str(_literal_value(args[0]))
        if list_name not in lists:
            close = closest(list_name, list(lists))
            fix = (f"did you mean '{close}'?" if close else
                   f"declare it under lists, e.g. lists: {{{list_name}: {list_name}.csv}}")
            raise RuleProblem(f"unknown list '{list_name}'", fix)


def _fits(arg: exp.Expr, kind: type | str) -> bool:
    if kind == COLUMN:
        return isinstance(arg, exp.Column) and not arg.table
    value = _literal_value(arg)
    if not isinstance(arg, exp.Literal) or not isinstance(kind, type):
        return False
    # Day counts are 0..MAX_DAYS: beyond a century the engine's date arithmetic overflows.
    return isinstance(value, kind) and not (isinstance(value, int)
                                            and not 0 <= value <= MAX_DAYS)


def _arg_value(node: exp.Expr) -> object:
    if isinstance(node, exp.Column):
        return exp.column(node.name, quoted=True).sql(dialect="duckdb")
    return _literal_value(node)


def _literal_value(node: exp.Expr) -> object:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = str(node.this)
        return int(text) if text.lstrip("-").isdigit() else float(text)
    return None


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Query | exp.Subquery):
        return "subqueries are not allowed"
    if not isinstance(node, exp.Condition):
        return "statements are not allowed"
    return f"{type(node).__name__} is not in the rule language"
