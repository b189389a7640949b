"""Column mappings: which column of a source file feeds which canonical column."""

from __future__ import annotations

from crmreport.errors import DataError, closest
from crmreport.tables import REQUIRED, TABLES

# Presets by name. "crmreport" is the canonical layout itself (the demo data uses it).
PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "crmreport": {table: {c: c for c in columns} for table, columns in TABLES.items()},
}


def resolve(
    mapping: str | dict[str, str], table: str, found: list[str], path: str
) -> dict[str, str]:
    """Canonical column -> source column, for those present; raise if a required one is missing."""
    wanted = _wanted(mapping, table, path)
    by_lower = {c.strip().lower(): c for c in found}
    resolved = {}
    for canonical, source in wanted.items():
        column = by_lower.get(source.strip().lower())
        if column is not None:
            resolved[canonical] = column
    missing = [c for c in REQUIRED[table] if c not in resolved]
    if missing:
        raise DataError(_missing_message(path, table, missing, wanted, found))
    return resolved


def _wanted(mapping: str | dict[str, str], table: str, path: str) -> dict[str, str]:
    if isinstance(mapping, dict):
        unknown = sorted(set(mapping) - set(TABLES[table]))
        if unknown:
            raise DataError(
                f"{path}: mapping names unknown {table} column(s) {', '.join(unknown)}; "
                f"canonical columns are: {', '.join(TABLES[table])}"
            )
        return {c: mapping.get(c, c) for c in TABLES[table]}
    if mapping not in PRESETS:
        close = closest(mapping, list(PRESETS))
        hint = f"did you mean '{close}'?" if close else f"known: {', '.join(sorted(PRESETS))}"
        raise DataError(f"{path}: unknown mapping preset '{mapping}'; {hint}")
    return PRESETS[mapping].get(table, {})


def _missing_message(
    path: str, table: str, missing: list[str], wanted: dict[str, str], found: list[str]
) -> str:
    parts = []
    for canonical in missing:
        source = wanted.get(canonical, canonical)
        close = closest(source.replace("_", ""), found) or closest(source, found)
        hint = f"; closest match: '{close}'" if close else ""
        parts.append(f"required column '{source}' (for {table}.{canonical}) not found{hint}")
    return (
        f"{path}: {'; '.join(parts)}. Columns found: {', '.join(found) or '(none)'}. "
        "Map the column in the campaign's data section, e.g. mapping: {"
        f"{missing[0]}: <your column>" "}"
    )
