"""What identify knows about one canonical table: how its rows are cleaned (``Spec``) and how
a clean plain export skips staging (``Lane``). The cleaning rules fill these in
(``cleaning``); the staging engine (``staging``) and the typed lane (``lane``) run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmreport.ingest.presets.base import META_TYPES
from crmreport.reasons import FLAG, QUARANTINE, Kind, duplicate
from crmreport.reasons import code as declared

# Each table is staged under this name with its canonical columns first, then bookkeeping;
# the staging table becomes the table itself (bookkeeping dropped) unless rows must be merged.
STAGING = "staging"
META = {"_file": "INTEGER", **META_TYPES}  # _reason holds the verdict once staged
KEPT = "_reason IS NULL AND _merge IS NULL"


@dataclass(frozen=True)
class Lane:
    """How a table is read straight from one clean plain file.

    ``clean`` must hold only for a row that staging keeps with the lane's values: no check
    fails on it, and each flag staging could raise on it is counted here (``flags``,
    ``filled``) or by the spec's ``across``.
    """

    types: dict[str, str]  # canonical columns DuckDB's reader types
    clean: list[str]  # SQL over a row of the table, all true for a row kept as it is
    flags: list[tuple[str, str]] = field(default_factory=list)  # (code, SQL) over a row
    columns: dict[str, str] = field(default_factory=dict)  # canonical column -> SQL, if not as read
    # canonical column -> (SQL default, flag code): an empty value staging fills in and flags
    filled: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _declared(FLAG, self.flags, [(code, "") for _, code in self.filled.values()])


@dataclass(frozen=True)
class Spec:
    """How a table's raw parts become the canonical table.

    ``values``, ``columns``, ``checks`` and ``flags`` are SQL over one row of raw text, judged
    in the one pass that stages a part: no subqueries there, since a join would not keep file
    order. ``values`` are parsed once per row and named (``v_...``) for the others to use.
    What needs other rows or tables is judged afterwards over the staged, typed columns
    (``against`` and ``across``).
    """

    table: str
    columns: dict[str, str]  # canonical column -> SQL over the raw row and values
    checks: list[tuple[str, str]]  # (reason code, SQL true when the row must be quarantined)
    flags: list[tuple[str, str]] = field(default_factory=list)  # (code, SQL) on loaded rows
    against: list[tuple[str, str]] = field(default_factory=list)  # checks over staged rows
    across: list[tuple[str, str]] = field(default_factory=list)  # flags over staged rows
    key: str | None = None  # duplicates on this key are merged into the first row
    # Columns merged by their own aggregate instead of "first non-empty value".
    merge: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # v_name -> SQL over the raw row
    lane: Lane | None = None  # how a clean plain file skips staging (see ``lane``)
    # Statements over the staged rows once counted (flags see the values as read), before
    # the stage becomes the table; e.g. converting currencies.
    convert: list[str] = field(default_factory=list)
    # Column sets meaning the same person (see ``persons``): rows of one person merge into
    # its first one. None: only duplicates of ``key`` merge.
    match: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        """A rule can only name a declared code (crmreport.reasons), of its kind."""
        _declared(QUARANTINE, self.checks, self.against)
        _declared(FLAG, self.flags, self.across)
        if self.key is not None:
            duplicate(self.key)


def _declared(kind: Kind, *rules: list[tuple[str, str]]) -> None:
    for code, _ in (rule for group in rules for rule in group):
        declared(code, kind)
