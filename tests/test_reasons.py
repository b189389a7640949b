"""The reason registry: every code the code can write is declared, labelled in en and de, and
the README's table is the registry's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmreport import reasons
from crmreport.account import FileAccount
from crmreport.config import load_campaign
from crmreport.identify import persons
from crmreport.identify.cleaning import specs
from crmreport.ingest.presets import PRESETS
from crmreport.ingest.presets.base import RawFile
from crmreport.interact.plan import REASONS, exclusion_conditions
from crmreport.personalise import letters
from crmreport.personalise.email import INVALID_ADDRESS, TEMPLATE_FAILED
from crmreport.reasons import EXCLUSION, FLAG, MERGE, QUARANTINE, Kind

README = Path(__file__).parents[1] / "README.md"
# A code written as an SQL literal after THEN: presets write their codes this way.
THEN_LITERAL = re.compile(r"THEN\s+'([^']+)'")


def _spec_codes() -> set[tuple[str, Kind]]:
    """(code, kind) of every cleaning rule, the typed lane's included."""
    found: set[tuple[str, Kind]] = set()
    for spec in specs("EUR", ("USD",)):  # with a rated currency, as with a rate table
        found |= {(c, QUARANTINE) for c, _ in [*spec.checks, *spec.against]}
        found |= {(c, FLAG) for c, _ in [*spec.flags, *spec.across]}
        if spec.key is not None:
            found.add((f"duplicate_{spec.key}", MERGE))
        if spec.lane is not None:
            found |= {(c, FLAG) for c, _ in spec.lane.flags}
            found |= {(c, FLAG) for _, c in spec.lane.filled.values()}
    return found


def _preset_sql() -> list[tuple[str, str]]:
    """(bookkeeping column or 'setup', SQL) of every preset's feeds, from its transforms."""
    out: list[tuple[str, str]] = []
    for preset in PRESETS.values():
        for table, transform in preset.transforms.items():
            found = {name: name for name in preset.columns.get(table, {})}
            setup, feeds = transform(RawFile(table, "staged", found, ".", preset.date_formats))
            out += [("setup", sql) for sql in setup]
            out += [(col, sql) for feed in feeds for col, sql in feed.columns.items()
                    if col in ("_reason", "_merge", "_dup", "_flags")]
    return out


def _preset_codes() -> set[tuple[str, Kind | None]]:
    kinds: dict[str, Kind | None] = {"_reason": QUARANTINE, "_merge": MERGE, "_dup": MERGE,
                                     "_flags": FLAG, "setup": None}
    found: set[tuple[str, Kind | None]] = set()
    for column, sql in _preset_sql():
        literals = THEN_LITERAL.findall(sql)
        if column == "_dup":
            literals = [sql.strip("'")]
        found |= {(code, kinds[column]) for code in literals}
    return found


def test_cleaning_rules_name_declared_codes_of_their_kind() -> None:
    codes = _spec_codes()
    assert ("missing_customer_id", QUARANTINE) in codes and ("guest_order", FLAG) in codes
    for code, kind in codes:
        reasons.reason(code, kind)


def test_presets_write_declared_codes_of_their_kind() -> None:
    codes = _preset_codes()
    assert {"fee_line", "order_line", "same_day_purchase", "test_order"} <= {c for c, _ in codes}
    for code, kind in codes:
        reasons.reason(code, kind)


def test_parser_rejects_are_declared_quarantine_reasons() -> None:
    sql = reasons.parser_reject_sql("error")
    assert set(re.findall(r"'([a-z_]+)'", sql)) == set(reasons.PARSER_REJECTS)
    for code in reasons.PARSER_REJECTS:
        reasons.reason(code, QUARANTINE)


def test_the_plan_judges_exactly_the_declared_exclusions_in_order(shop: Path) -> None:
    campaign = load_campaign(shop / "campaign.yaml").config
    declared = [r.code for r in reasons.EXCLUSIONS]
    assert list(exclusion_conditions(campaign)) == declared == list(REASONS)
    assert all(r.step for r in reasons.EXCLUSIONS)
    assert [r.code for r in reasons.DECLARED if EXCLUSION in r.kinds] == declared


def test_every_declared_code_is_used() -> None:
    used = {c for c, _ in _spec_codes() | _preset_codes()} | set(reasons.PARSER_REJECTS)
    used |= {r.code for r in reasons.EXCLUSIONS} | {persons.SAME_PERSON}
    used |= {INVALID_ADDRESS, TEMPLATE_FAILED, letters.LETTER_TOO_LONG, letters.ADDRESS_CLIPPED}
    used |= set(reasons.INGEST_FLAGS)
    assert {r.code for r in reasons.DECLARED} == used


def test_every_reason_has_labels_and_a_fix() -> None:
    for r in reasons.DECLARED:
        for language in reasons.LANGUAGES:
            assert r.label(language).strip(), (r.code, language)
        assert r.fix.strip().endswith("."), r.code
        assert r.kinds and len(set(r.kinds)) == len(r.kinds), r.code
    assert reasons.label("no_permission", "de") != reasons.label("no_permission", "en")


def test_undeclared_or_misused_codes_fail() -> None:
    with pytest.raises(reasons.UndeclaredReason):
        reasons.code("no_such_reason")
    with pytest.raises(reasons.UndeclaredReason):
        reasons.quoted("fee_line", FLAG)
    with pytest.raises(reasons.UndeclaredReason):
        reasons.duplicate("sku")
    with pytest.raises(reasons.UndeclaredReason):
        FileAccount("x.csv", "orders").quarantine("misspelt_reason", 1)


def _readme_table() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Reason codes", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells[0] == ["code", "kind", "meaning", "how to fix"]
    assert set("".join(cells[1])) <= set("-: ")
    return cells[2:]


def test_readme_table_is_the_registry() -> None:
    expected = [[f"`{r.code}`", ", ".join(k.value for k in r.kinds), r.en, r.fix]
                for r in reasons.DECLARED]
    assert _readme_table() == expected
