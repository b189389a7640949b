"""Column mappings: which column of a source file feeds which canonical column.

A mapping is a preset name (``crmreport``, ``shopify``, ``online-retail``..., or ``auto``) or
an explicit ``{canonical column: column in the file}``. With the default ``crmreport`` a file
whose header lacks the canonical columns is matched against the presets' signatures; when
exactly one fits, it is used (and named in the account), otherwise the usual
missing-column error stands.
"""

from __future__ import annotations

from crmreport.errors import DataError, closest
from crmreport.ingest.presets import PRESETS
from crmreport.ingest.presets.base import Preset
from crmreport.tables import REQUIRED, TABLES

AUTO = "auto"


def preset_named(mapping: str, path: str) -> Preset:
    if mapping not in PRESETS:
        names = [*PRESETS, AUTO]
        close = closest(mapping, names)
        hint = f"did you mean '{close}'?" if close else f"known: {', '.join(sorted(names))}"
        raise DataError(f"{path}: unknown mapping preset '{mapping}'; {hint}")
    return PRESETS[mapping]


def explicit(mapping: dict[str, str], table: str, path: str) -> Preset:
    """An explicit mapping as a one-off preset."""
    unknown = sorted(set(mapping) - set(TABLES[table]))
    if unknown:
        raise DataError(
            f"{path}: mapping names unknown {table} column(s) {', '.join(unknown)}; "
            f"canonical columns are: {', '.join(TABLES[table])}"
        )
    return Preset(name="explicit", description="the campaign's own column mapping",
                  columns={table: {c: mapping.get(c, c) for c in TABLES[table]}})


def detect(table: str, found: list[str]) -> Preset | None:
    """The one preset whose signature the header fits, if exactly one does."""
    hits = [p for p in PRESETS.values() if p.name != "crmreport" and p.matches(table, found)]
    return hits[0] if len(hits) == 1 else None


def fits(preset: Preset, table: str, found: list[str]) -> bool:
    """Whether the file has every column the preset requires for this table."""
    try:
        resolve(preset, table, found, "")
    except DataError:
        return False
    return True


def resolve(preset: Preset, table: str, found: list[str], path: str) -> dict[str, str]:
    """Name -> source column, for those present; raise if a required one is missing."""
    wanted = preset.columns.get(table)
    if wanted is None:
        tables = ", ".join(sorted(preset.columns))
        raise DataError(f"{path}: the '{preset.name}' preset has no layout for {table}; "
                        f"it reads: {tables}")
    by_lower = {c.strip().lower(): c for c in found}
    resolved = {}
    for name, sources in wanted.items():
        for source in (sources,) if isinstance(sources, str) else sources:
            column = by_lower.get(source.strip().lower())
            if column is not None:
                resolved[name] = column
                break
    required = preset.required.get(table, REQUIRED[table]) if preset.required else REQUIRED[table]
    missing = [c for c in required if c not in resolved]
    if missing:
        raise DataError(_missing_message(path, table, missing, wanted, found, preset))
    return resolved


def looks_like_data(header: list[str]) -> bool:
    """A header that is really a customer's row must not be echoed into messages and logs."""
    numeric = sum(cell.strip().replace(".", "").replace(",", "").replace("-", "").isdigit()
                  for cell in header)
    return any("@" in cell for cell in header) or numeric * 2 > len(header)


def _missing_message(
    path: str, table: str, missing: list[str], wanted: dict[str, str | tuple[str, ...]],
    found: list[str], preset: Preset,
) -> str:
    if looks_like_data(found):
        return (f"{path}: the first line looks like data, not a header row (it holds an email "
                "address or mostly numbers); add the header row the export left out")
    parts = []
    for canonical in missing:
        sources = wanted.get(canonical, canonical)
        source = sources if isinstance(sources, str) else sources[0]
        close = closest(source.replace("_", ""), found) or closest(source, found)
        hint = f"; closest match: '{close}'" if close else ""
        what = f"{table}.{canonical}" if canonical in TABLES[table] else f"the {preset.name} preset"
        parts.append(f"required column '{source}' (for {what}) not found{hint}")
    return (
        f"{path}: {'; '.join(parts)}. Columns found: {', '.join(found) or '(none)'}. "
        "Map the column in the campaign's data section, e.g. mapping: {"
        f"{missing[0]}: <your column>" "}"
    )
