"""Segments and offers per customer: ordered segment rules (first match wins) and offer choice."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crmreport.config import LoadedCampaign, Offer
from crmreport.engine import Connection
from crmreport.errors import Problem, RuleError
from crmreport.rules.expressions import RuleProblem, check, compile_condition

UNASSIGNED = "unassigned"  # customers no segment rule matched; counted, never contacted


@dataclass(frozen=True)
class CompiledRules:
    segments: list[tuple[str, str]]  # (segment id, SQL condition), in file order
    offers: list[tuple[Offer, str]]  # (offer, SQL condition), best first


def compile_rules(loaded: LoadedCampaign, columns: Collection[str]) -> CompiledRules:
    """Check every condition against the feature columns; report all problems at once."""
    config, problems = loaded.config, list[Problem]()
    as_of = config.as_of
    segments = []
    for i, seg in enumerate(config.segments):
        sql = _compile(seg.when, columns, as_of, loaded, ("segments", i, "when"), "segment",
                       seg.id, problems)
        segments.append((seg.id, sql))
    offers = []
    for i, offer in enumerate(config.offers):
        sql = _compile(offer.when, columns, as_of, loaded, ("offers", i, "when"), "offer",
                       offer.id, problems)
        offers.append((i, offer, sql))
    if problems:
        raise RuleError(problems)
    # Offer choice: priority, then expected value, then order in the file.
    offers.sort(key=lambda t: (-t[1].priority, -t[1].value, t[0]))
    return CompiledRules(segments, [(o, sql) for _, o, sql in offers])


def _compile(text: str, columns: Collection[str], as_of: object, loaded: LoadedCampaign,
             path: tuple[str | int, ...], kind: str, ident: str, problems: list[Problem]) -> str:
    try:
        tree = check(text, columns)
    except RuleProblem as exc:
        problems.append(loaded.lines.problem(path, f"{kind} '{ident}': {exc.message}", exc.fix))
        return "FALSE"
    return compile_condition(tree, loaded.config.as_of)


def assign(con: Connection, rules: CompiledRules) -> None:
    """Create ``assignments``: features plus segment, offer, and one eligibility flag per offer."""
    segment = " ".join(f"WHEN {sql} THEN '{sid}'" for sid, sql in rules.segments)
    eligible = [
        f"(seg IN ({', '.join(repr(s) for s in offer.segments)}) AND coalesce({sql}, false))"
        for offer, sql in rules.offers
    ]
    flags = "".join(f", {e} AS \"eligible:{o.id}\"" for e, (o, _) in
                    zip(eligible, rules.offers, strict=True))
    choice = " ".join(f"WHEN {e} THEN '{o.id}'" for e, (o, _) in
                      zip(eligible, rules.offers, strict=True))
    offer = f"CASE {choice} END" if choice else "CAST(NULL AS VARCHAR)"
    con.execute(f"""
        CREATE OR REPLACE TABLE assignments AS
        WITH s AS (SELECT *, coalesce(CASE {segment} END, '{UNASSIGNED}') AS seg FROM features)
        SELECT * EXCLUDE (seg), seg AS segment, {offer} AS offer {flags}
        FROM s ORDER BY customer_id""")
