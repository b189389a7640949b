"""What a preset is: column names of a system's export, how to read it, and a SQL transform.

A preset turns one staged file (all VARCHAR, ``_row`` numbered) into one or more *feeds*:
SELECTs onto canonical tables. Each feed row may carry bookkeeping columns:

- ``_counted``: whether the row is one of the file's input rows in the account. A file that
  feeds several tables counts each input row in exactly one table (its declared one); the
  other feeds are shadows (an order line beside the order it is counted in).
- ``_reason``: quarantine it with this reason code (e.g. ``fee_line``), before any check.
- ``_merge``: merge it with this reason code (e.g. ``duplicate_line``): its data is already
  held by another row.
- ``_dup``: the reason code used when the row is merged as a duplicate of its table's key
  (``order_line`` for the second line of a multi-line order; default ``duplicate_<key>``).
- ``_flags``: VARCHAR[] of warning codes counted on rows that are kept (e.g. ``test_order``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from crmreport.ingest.readers import ReadOptions
from crmreport.reasons import FLAG, quoted
from crmreport.vocabulary import TWO_DIGIT_YEAR

META = ("_row", "_counted", "_reason", "_merge", "_dup", "_flags")
META_TYPES = {"_row": "BIGINT", "_counted": "BOOLEAN", "_reason": "VARCHAR",
              "_merge": "VARCHAR", "_dup": "VARCHAR", "_flags": "VARCHAR[]"}
NUMERIC = ("amount", "unit_price", "quantity")
DATES = ("signup_date", "order_date", "ordered_at", "since", "contacted_at")


@dataclass(frozen=True)
class Feed:
    """One SELECT onto a canonical table: output column -> SQL, over ``source``."""

    table: str
    columns: dict[str, str]
    source: str
    counted: bool = True
    reordered: bool = True  # rows may leave file order (window functions): sort by _row


@dataclass(frozen=True)
class RawFile:
    """What a transform gets: the file as read (all text) and where its columns are."""

    table: str  # the canonical table the file was declared for
    staging: str  # the staged table: _row plus the file's own columns, all VARCHAR
    found: dict[str, str]  # canonical (or preset-private) name -> source column
    decimal: str
    date_formats: tuple[str, ...] = ()

    def raw(self, name: str) -> str:
        """The source column as SQL, or NULL when the file lacks it."""
        column = self.found.get(name)
        return '"' + column.replace('"', '""') + '"' if column else "CAST(NULL AS VARCHAR)"

    def has(self, name: str) -> bool:
        return name in self.found

    def text(self, name: str) -> str:
        return f"nullif(trim({self.raw(name)}), '')"

    def number(self, name: str) -> str:
        return number(self.raw(name), self.decimal)

    def day(self, name: str) -> str:
        return date_text(self.raw(name), self.date_formats)

    def mapped_columns(self, table: str, columns: list[str]) -> dict[str, str]:
        """Canonical columns straight from the file, numbers and dates made canonical."""
        out = {}
        for c in columns:
            if c in NUMERIC:
                out[c] = self.number(c)
            elif c in DATES and self.date_formats:
                out[c] = self.day(c)
            else:
                out[c] = self.raw(c)
        return out


# A transform returns SQL statements to run first (e.g. a staged intermediate table named
# after ``RawFile.staging``) and the feeds.
Transform = Callable[[RawFile], tuple[list[str], list[Feed]]]


@dataclass(frozen=True)
class Preset:
    """A named export layout.

    ``columns``: per canonical table, canonical column -> the export's header, or a tuple of
    alternative headers (the first present wins; exports change between versions).
    ``signature``: per table, headers that together identify this export (detection).
    """

    name: str
    description: str
    columns: dict[str, dict[str, str | tuple[str, ...]]]
    signature: dict[str, tuple[str, ...]] = field(default_factory=dict)
    read: ReadOptions = field(default_factory=ReadOptions)
    date_formats: tuple[str, ...] = ()
    transforms: dict[str, Transform] = field(default_factory=dict)  # per declared table
    required: dict[str, tuple[str, ...]] | None = None  # overrides tables.REQUIRED
    sniff: Callable[[list[str]], bool] | None = None  # detection from the found columns

    def matches(self, table: str, found: list[str]) -> bool:
        if self.sniff is not None:
            return self.sniff(found)
        wanted = self.signature.get(table)
        if not wanted:
            return False
        have = {c.strip().lower() for c in found}
        return all(w.lower() in have for w in wanted)


def number(expr: str, decimal: str) -> str:
    """Number text in canonical form (``-1234.56``).

    Decimal comma files: ``1.234,56`` and ``1234,56`` -> ``1234.56``. Decimal point files:
    ``1,234.56`` -> ``1234.56`` (only a strict thousands pattern; ``1,5`` stays and fails
    later as a bad amount rather than becoming 15). Currency signs around the number go.
    """
    x = f"trim({expr})"
    if decimal == ",":
        return (f"CASE WHEN regexp_matches({x}, '^[+-]?[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]+)?$')"
                f" OR regexp_matches({x}, '^[+-]?[0-9]+(,[0-9]+)?$') "
                f"THEN replace(replace({x}, '.', ''), ',', '.') "
                f"ELSE {_strip_currency(x, decimal)} END")
    # Most values are plain numbers already: one cast decides, the patterns run on the rest.
    return (f"CASE WHEN TRY_CAST({expr} AS DECIMAL(18,2)) IS NOT NULL THEN {expr} "
            f"WHEN regexp_matches({x}, '^[+-]?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?$') "
            f"THEN replace({x}, ',', '') ELSE {_strip_currency(x, decimal)} END")


def _strip_currency(x: str, decimal: str) -> str:
    bare = (f"trim(regexp_replace({x}, '^(€|\\$|£|EUR|USD|GBP|CHF)\\s*|\\s*(€|\\$|£|EUR|USD|GBP"
            f"|CHF)$', '', 'g'))")
    group, point = (".", ",") if decimal == "," else (",", ".")
    # Group separators only in strict groups of three: '1,5' is not 15.
    pattern = (f"^[+-]?([0-9]{{1,3}}(\\{group}[0-9]{{3}})+|[0-9]+)(\\{point}[0-9]+)?$")
    canonical = f"replace({bare}, '{group}', '')"
    if decimal == ",":
        canonical = f"replace({canonical}, ',', '.')"
    return f"CASE WHEN regexp_matches({bare}, '{pattern}') THEN {canonical} ELSE {x} END"


def date_text(expr: str, formats: tuple[str, ...]) -> str:
    """A date or timestamp in a preset's formats as ISO text; other text passes unchanged."""
    if not formats:
        return expr
    fmts = "[" + ", ".join(f"'{f}'" for f in formats) + "]"
    # A two-digit year passes as written, for identify to quarantine: %Y would read 0023.
    return (f"CASE WHEN regexp_matches(left(trim({expr}), 9), '{TWO_DIGIT_YEAR}') THEN {expr} "
            f"ELSE coalesce(strftime(try_strptime(trim({expr}), {fmts}), '%Y-%m-%d %H:%M:%S'), "
            f"{expr}) END")


def lower_email(expr: str) -> str:
    return f"nullif(lower(trim({expr})), '')"


def flags(*pairs: tuple[str, str]) -> str:
    """VARCHAR[] of the codes whose condition holds."""
    items = ", ".join(f"CASE WHEN {sql} THEN {quoted(code, FLAG)} END" for code, sql in pairs)
    return f"list_filter([{items}], lambda x: x IS NOT NULL)"
