"""Segments and offers per customer: ordered segment rules (first match wins) and offer choice.

Offer choice: among the offers a customer is eligible for (segment listed and condition
true), the highest ``priority`` wins; within a priority the highest expected ``value`` for
this customer (a number, or an expression such as ``coalesce(clv_12m * 0.1, 5)``; NULL
counts as 0); then the offer listed first. "Never offer what was just bought" is written as
a condition: ``when: "NOT bought_category('outdoor', 60)"``.

The ``offer`` chosen here is the first choice, whatever the channels: the plan
(``interact.plan``) then gives each customer the best offer that can reach them on a
permitted channel, with ``choice_sql`` and the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
from sqlglot import exp

from crmreport.config import LoadedCampaign, Offer
from crmreport.config.models import UNASSIGNED
from crmreport.engine import Connection, columns
from crmreport.errors import DataError, Problem, RuleError
from crmreport.rules.expressions import RuleProblem, check, compile_condition, used_lists
from crmreport.tables import ASSIGNMENTS, FEATURES, RULE_LISTS, Table, assignment_columns

NO_VALUE = ("0.0", "DECIMAL(2,1)")  # an offer without a value: SQL and its type


@dataclass(frozen=True)
class CompiledRules:
    segments: list[tuple[str, str]]  # (segment id, SQL condition), in file order
    offers: list[tuple[Offer, str]]  # (offer, SQL condition), best first (priority, file order)
    values: dict[str, str] = field(default_factory=dict)  # offer id -> SQL of its value
    lists: dict[tuple[str, str], Path] = field(default_factory=dict)  # (list, column) -> file
    value_types: dict[str, str] = field(default_factory=dict)  # offer id -> its value's type
    # each compiled expression's SQL as it is read, and where it is written: to name one that
    # fails to run
    sources: list[tuple[str, Problem]] = field(default_factory=list)
    # each checked condition and where it is written: to look up the values it names
    trees: list[tuple[exp.Expr, Problem]] = field(default_factory=list)

    def columns(self) -> dict[str, str]:
        """The columns ``assign`` gives ``assignments`` for these rules."""
        return assignment_columns((offer.id, self.value_types.get(offer.id, NO_VALUE[1]))
                                  for offer, _ in self.offers)


@dataclass(frozen=True)
class Assigned:
    """What rules made: its tables, and the columns ``assignments`` has for this campaign."""

    tables: tuple[Table, ...]
    columns: dict[str, str]


def _number(value: float) -> tuple[str, str]:
    """A number as an SQL literal, and the type DuckDB gives that literal: DECIMAL of its
    digits when written plainly, DOUBLE in exponent notation (repr's choice from 1e16)."""
    text = repr(float(value))
    if "e" in text:
        return text, "DOUBLE"
    whole, _, decimals = text.lstrip("-").partition(".")
    return text, f"DECIMAL({len(whole) + len(decimals)},{len(decimals)})"


def compile_rules(loaded: LoadedCampaign, columns: Collection[str]) -> CompiledRules:
    """Check every condition against the feature columns; report all problems at once."""
    config, problems = loaded.config, list[Problem]()
    lists: dict[tuple[str, str], Path] = {}
    names = list(config.lists)
    sources: list[tuple[str, Problem]] = []
    trees: list[tuple[exp.Expr, Problem]] = []

    def compile_one(text: str, path: tuple[str | int, ...], what: str,
                    boolean: bool = True) -> str:
        try:
            tree = check(text, columns, names, boolean=boolean)
        except RuleProblem as exc:
            problems.append(loaded.lines.problem(path, f"{what}: {exc.message}", exc.fix))
            return "FALSE"
        for name, column in used_lists(tree):
            lists[(name, column)] = loaded.data_path(config.lists[name])
        sql = compile_condition(tree, config.as_of)
        probe = f"CAST({sql} AS BOOLEAN)" if boolean else sql  # as the verdicts read it
        sources.append((probe, loaded.lines.problem(path, what, "")))
        trees.append((tree, loaded.lines.problem(path, what, "")))
        return sql

    segments = [(seg.id, compile_one(seg.when, ("segments", i, "when"), f"segment '{seg.id}'"))
                for i, seg in enumerate(config.segments)]
    conditions, values, types = {}, {}, {}
    for i, offer in enumerate(config.offers):
        sql = compile_one(offer.when, ("offers", i, "when"), f"offer '{offer.id}'")
        conditions[offer.id] = sql
        if isinstance(offer.value, str):
            value = compile_one(offer.value, ("offers", i, "value"),
                                f"value of offer '{offer.id}'", boolean=False)
            # NULL, NaN and infinity (0/0, x/0) count as 0: they must not win the choice.
            number = f"TRY_CAST({value} AS DOUBLE)"
            values[offer.id] = f"coalesce(CASE WHEN isfinite({number}) THEN {number} END, 0)"
            types[offer.id] = "DOUBLE"
        else:
            values[offer.id], types[offer.id] = _number(offer.value)
    for (name, _), path in sorted(lists.items()):
        if not path.is_file():
            problems.append(loaded.lines.problem(("lists", name), f"list '{name}': file {path} "
                                                 "does not exist", "check the path; relative "
                                                 "paths start at --data-dir"))
    if problems:
        raise RuleError(problems)
    return CompiledRules(segments, [(o, conditions[o.id]) for o in preferred(config.offers)],
                         values, lists, types, sources, trees)


def load_lists(con: Connection, lists: dict[tuple[str, str], Path]) -> None:
    """``rule_lists(list, col, value)``: per (list, column) the file's column of that name
    (case-insensitive), else its first column; values trimmed, blanks dropped."""
    con.execute(RULE_LISTS.create(temp=True))
    for (name, column), path in sorted(lists.items()):
        source = str(path).replace("'", "''")
        try:
            found = [name for name, _ in columns(
                con, f"SELECT * FROM read_csv('{source}', all_varchar = true, header = true)")]
        except Exception as exc:  # duckdb raises several kinds for unreadable files
            raise DataError(f"{path}: list '{name}' cannot be read: "
                            f"{str(exc).splitlines()[0]}") from None
        if not found:
            raise DataError(f"{path}: list '{name}' has no columns; write a header row first")
        pick = next((c for c in found if c.strip().lower() == column.lower()), found[0])
        quoted = pick.replace('"', '""')
        con.execute(f"""INSERT INTO {RULE_LISTS} SELECT DISTINCT ?, ?, trim("{quoted}")
                        FROM read_csv('{source}', all_varchar = true, header = true)
                        WHERE nullif(trim("{quoted}"), '') IS NOT NULL""", [name, column])


def assign(con: Connection, rules: CompiledRules) -> Assigned:
    """Create ``assignments`` (columns: ``rules.columns()``): features plus per offer its
    eligibility flag ``"eligible:<id>"`` and expected value ``"value:<id>"``, the segment
    and the chosen offer; and ``rule_lists``, which the conditions read wherever they run."""
    load_lists(con, rules.lists)
    try:
        _assign(con, rules)
    except duckdb.Error as exc:
        raise _failing_rule(con, rules, exc) from None
    return Assigned((ASSIGNMENTS, RULE_LISTS), rules.columns())


# The engine's own message may quote a customer's value, so only its kind is told.
_WHY = {duckdb.OutOfRangeException: "a number grows beyond the engine's range",
        duckdb.ConversionException: "a value cannot be read as the type the rule needs",
        duckdb.InvalidInputException: "a value cannot be computed (e.g. modulo by zero)"}


def _failing_rule(con: Connection, rules: CompiledRules, exc: duckdb.Error) -> RuleError:
    """The first rule that cannot be evaluated over this data, named with its place."""
    why = next((w for kind, w in _WHY.items() if isinstance(exc, kind)),
               f"the engine cannot evaluate it ({type(exc).__name__})")
    fix = "keep numbers small, cast nothing, and guard divisors (e.g. x % nullif(y, 0))"
    for sql, where in rules.sources:
        try:
            con.execute(f"SELECT count({sql}) FROM {FEATURES}").fetchall()
        except duckdb.Error:
            return RuleError([replace(where, message=f"{where.message}: cannot be evaluated "
                                      f"for every customer: {why}", fix=fix)])
    return RuleError([Problem("campaign", None, "rules", f"the rules cannot be evaluated: "
                              f"{why}", fix)])


def _assign(con: Connection, rules: CompiledRules) -> None:
    segment = " ".join(f"WHEN {sql} THEN '{sid}'" for sid, sql in rules.segments)
    flags, values = [], []
    for offer, sql in rules.offers:
        segments = ", ".join(repr(s) for s in offer.segments)
        flags.append(f', (seg IN ({segments}) AND coalesce({sql}, false)) AS "eligible:{offer.id}"')
        values.append(f', {rules.values.get(offer.id, NO_VALUE[0])} AS "value:{offer.id}"')
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rule_verdicts AS
        WITH s AS (SELECT *, coalesce(CASE {segment} END, '{UNASSIGNED}') AS seg
                   FROM {FEATURES})
        SELECT * {''.join(flags)} {''.join(values)} FROM s""")
    con.execute(f"""
        CREATE OR REPLACE TABLE {ASSIGNMENTS} AS
        SELECT * EXCLUDE (seg), seg AS segment, {_choice(rules)} AS offer
        FROM rule_verdicts ORDER BY customer_id""")
    con.execute("DROP TABLE rule_verdicts")


def preferred(offers: Sequence[Offer]) -> list[Offer]:
    """``offers`` best first: by priority, then file order (the value decides per customer)."""
    return [o for _, o in sorted(enumerate(offers), key=lambda t: (-t[1].priority, t[0]))]


def choice_sql(offers: Sequence[Offer], can_get: Callable[[Offer], str]) -> str:
    """SQL of the best offer a customer can get: priority, then value, then file order.

    ``offers`` are best first (``preferred``); ``can_get(offer)`` is SQL, never NULL, true
    when the customer may get that offer (its eligibility flag, and what else the caller
    requires). An offer wins unless an earlier one of equal priority is worth at least as
    much, or a later one strictly more. NULL when the customer can get none.
    """
    whens = []
    for i, offer in enumerate(offers):
        beaten = []
        for j, other in enumerate(offers):
            if j == i or other.priority != offer.priority:
                continue
            cmp = ">=" if j < i else ">"
            beaten.append(f'({can_get(other)} AND "value:{other.id}" {cmp} '
                          f'"value:{offer.id}")')
        higher = [f"({can_get(o)})" for o in offers if o.priority > offer.priority]
        losing = " OR ".join(higher + beaten) or "false"
        whens.append(f"WHEN ({can_get(offer)}) AND NOT ({losing}) THEN '{offer.id}'")
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


def eligible_flag(offer: Offer) -> str:
    """The column of ``assignments`` telling whether a customer is eligible for ``offer``."""
    return f'"eligible:{offer.id}"'


def _choice(rules: CompiledRules) -> str:
    """The best eligible offer, whatever the channels (the plan then asks which can reach)."""
    return choice_sql([o for o, _ in rules.offers], eligible_flag)
