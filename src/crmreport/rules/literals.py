"""Values in rules that match nothing in the data: a typo that would silently change who
gets an offer (``NOT bought_category('outdor', 60)`` is true for everyone).

``check`` warns about each, with the closest value the data has; the rule still runs as
written. Looked at: the category of ``bought_category``, the SKU of ``bought_product``, the
campaign of ``contacted_in``, the values of an ``in_list`` list, text compared with a
text column (``country = 'DX'``, ``top_category IN (...)``), and the segments an offer
names (one no customer falls into makes the offer reach no one). The values named are categories,
SKUs, campaign ids and feature values, never a customer's name or address.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, replace

import duckdb
from sqlglot import exp

from crmreport.config import LoadedCampaign
from crmreport.engine import Connection
from crmreport.errors import Problem
from crmreport.rules.assign import CompiledRules
from crmreport.rules.expressions import used_lists
from crmreport.tables import ASSIGNMENTS, CONTACTS, FEATURES, ORDER_LINES, RULE_LISTS

# Up to this many distinct values are compared for the closest one; beyond, none is named.
MAX_CANDIDATES = 200_000


@dataclass(frozen=True)
class Reference:
    """A literal a rule compares with the data: shown as written, and where to look it up."""

    shown: str  # e.g. bought_category('outdor')
    value: str
    noun: str  # what it is: 'category', 'SKU', ...
    column: str  # the column holding such values
    table: str
    folded: bool = False  # compared case-insensitively (lower on both sides)


_HELPERS = {"bought_category": ("category", "category", str(ORDER_LINES), True),
            "bought_product": ("SKU", "sku", str(ORDER_LINES), True),
            "contacted_in": ("campaign in the contact history", "campaign", str(CONTACTS),
                             False)}


def references(tree: exp.Expr) -> Iterator[Reference]:
    """The literals of a checked condition that name something in the data."""
    for node in tree.walk():
        if isinstance(node, exp.Anonymous) and str(node.name).lower() in _HELPERS:
            noun, column, table, folded = _HELPERS[str(node.name).lower()]
            arg = node.expressions[0]
            if isinstance(arg, exp.Literal) and arg.is_string:
                yield Reference(f"{node.name}('{arg.this}')", str(arg.this), noun, column, table,
                                folded)
        elif isinstance(node, exp.In | exp.EQ | exp.NEQ):
            yield from _compared(node)


def _text_column(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Column) and FEATURES.columns.get(node.name) == "VARCHAR":
        return node.name
    return None


def _compared(node: exp.Expr) -> Iterator[Reference]:
    """``column = 'x'``, ``'x' = column`` and ``column IN ('x', ...)`` over a text column."""
    if isinstance(node, exp.In):
        column, values = _text_column(node.this), node.expressions
    else:
        column = _text_column(node.this) or _text_column(node.expression)
        values = [node.expression if column == _text_column(node.this) else node.this]
    if column is None:
        return
    for value in values:
        if isinstance(value, exp.Literal) and value.is_string:
            yield Reference(f"{column} '{value.this}'", str(value.this),
                            f"value of {column}", column, str(FEATURES))


def unmatched(con: Connection, rules: CompiledRules) -> list[Problem]:
    """A warning for each literal of the rules that no row of the data has, and each
    ``in_list`` list with values no customer has, located at the rule."""
    warnings: list[Problem] = []
    for tree, where in rules.trees:
        found = [_missing(con, ref) for ref in references(tree)]
        found += [_list_missing(con, name, column) for name, column in sorted(used_lists(tree))]
        warnings += [replace(where, message=f"{where.message}: {m}") for m in found if m]
    return list(dict.fromkeys(warnings))


def _missing(con: Connection, ref: Reference) -> str | None:
    """What is wrong with ``ref`` when the data lacks it, with the closest value it has."""
    column = f'CAST("{ref.column}" AS VARCHAR)'
    folded = f"lower({column})" if ref.folded else column
    value = ref.value.lower() if ref.folded else ref.value
    try:
        found = con.execute(f"SELECT count(*) FROM {ref.table} WHERE {folded} = ?",
                            [value]).fetchone()
        if found and found[0]:
            return None
        candidates = [str(r[0]) for r in con.execute(
            f"SELECT DISTINCT {column} FROM {ref.table} WHERE {column} IS NOT NULL "
            f"ORDER BY 1 LIMIT {MAX_CANDIDATES}").fetchall()]
    except duckdb.Error:  # a table this data set does not have: nothing to compare with
        return None
    text = f"{ref.shown}: no such {ref.noun} in the data"
    close = _closest(ref.value, candidates, ref.folded)
    return f"{text}; did you mean '{close}'?" if close else text


def _closest(value: str, candidates: list[str], folded: bool) -> str | None:
    if folded:
        by_lower = {c.lower(): c for c in candidates}
        match = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
        return by_lower[match[0]] if match else None
    match = difflib.get_close_matches(value, candidates, n=1)
    return match[0] if match else None


def _list_missing(con: Connection, name: str, column: str) -> str | None:
    """How many of a list's values no customer has in ``column``, with the first of them."""
    quoted = column.replace('"', '""')
    try:
        rows = con.execute(
            f"""SELECT value FROM {RULE_LISTS} WHERE list = ? AND col = ? AND value NOT IN
                (SELECT CAST("{quoted}" AS VARCHAR) FROM {FEATURES}
                 WHERE "{quoted}" IS NOT NULL) ORDER BY value""", [name, column]).fetchall()
    except duckdb.Error:
        return None
    if not rows:
        return None
    first = str(rows[0][0])
    candidates = [str(r[0]) for r in con.execute(
        f'SELECT DISTINCT CAST("{quoted}" AS VARCHAR) FROM {FEATURES} WHERE "{quoted}" IS NOT '
        f"NULL ORDER BY 1 LIMIT {MAX_CANDIDATES}").fetchall()]
    close = _closest(first, candidates, folded=False)
    text = (f"in_list('{name}', {column}): {len(rows):,} value(s) of the list match no "
            f"customer's {column}, e.g. '{first}'")
    return f"{text}; did you mean '{close}'?" if close else text


def empty_segments(con: Connection, loaded: LoadedCampaign) -> list[Problem]:
    """A warning for each segment an offer names that no customer falls into."""
    sizes = dict(con.execute(f"SELECT segment, count(*) FROM {ASSIGNMENTS} "
                             "GROUP BY segment").fetchall())
    return [loaded.lines.problem(("offers", i, "segments", j),
                                 f"offer '{offer.id}': segment '{segment}' has no customer in "
                                 "the data", "check the segment's rule, or the segments "
                                 "before it: the first that matches wins")
            for i, offer in enumerate(loaded.config.offers)
            for j, segment in enumerate(offer.segments) if not sizes.get(segment)]
