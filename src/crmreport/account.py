"""The account of every input row, kept per file: loaded, merged or quarantined, with reasons.

Ingest counts the rows it reads and the rows its parser rejects; identify counts what it
loads, merges and quarantines. Both write here, so neither reaches into the other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crmreport.errors import DataError
from crmreport.reasons import FLAG, MERGE, QUARANTINE
from crmreport.reasons import code as declared


@dataclass
class FileAccount:
    """One input file. Invariant: rows_in == loaded + merged + quarantined."""

    path: str
    table: str  # the table the file was declared for; its rows are counted there
    rows_in: int = 0
    loaded: int = 0
    merged: int = 0
    quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    # Rows loaded with a repair or a warning (guest order, blanked invalid email...).
    flags: Counter[str] = field(default_factory=Counter)
    # Every canonical table the file feeds (an order export feeds orders and order_lines).
    tables: list[str] = field(default_factory=list)
    preset: str | None = None  # the mapping preset used (named or detected)
    # How the file was read: encoding, delimiter, decimal separator, info and footer lines.
    read: dict[str, Any] = field(default_factory=dict)
    parsed: int = 0  # rows the parser returned or rejected (rows_in is counted apart)
    unread_line: int | None = None  # the first line the parser did not return, if found

    # Only declared codes are counted (crmreport.reasons): a misspelt one fails here.
    def quarantine(self, reason: str, count: int) -> None:
        if count:
            self.quarantined += count
            self.reasons[declared(reason, QUARANTINE)] += count

    def merge(self, reason: str, count: int) -> None:
        if count:
            self.merged += count
            self.reasons[declared(reason, MERGE)] += count

    def flag(self, code: str, count: int) -> None:
        if count:
            self.flags[declared(code, FLAG)] += count

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.loaded + self.merged + self.quarantined

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "table": self.table,
            "rows_in": self.rows_in,
            "loaded": self.loaded,
            "merged": self.merged,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "flags": dict(sorted(self.flags.items())),
            "tables": list(self.tables or [self.table]),
            "preset": self.preset,
            "read": dict(sorted(self.read.items())),
            **({"unread_line": self.unread_line} if self.unread_line else {}),
        }

    def imbalance(self) -> str | None:
        """Why the account of this file does not balance, naming the file; None if it does."""
        if self.balanced:
            return None
        where = f" the first row not read is at line {self.unread_line:,};" \
            if self.unread_line else ""
        return (f"{self.path}: the account does not balance: {self.rows_in:,} rows in the file, "
                f"but {self.loaded:,} loaded + {self.merged:,} merged + {self.quarantined:,} "
                f"quarantined ({self.rows_in - self.loaded - self.merged - self.quarantined:+,} "
                f"unaccounted);{where} report this with the file, it is a bug in crmreport")


@dataclass
class Account:
    files: list[FileAccount] = field(default_factory=list)

    def add(self, path: str, table: str) -> FileAccount:
        entry = FileAccount(path=path, table=table)
        self.files.append(entry)
        return entry

    def require_balanced(self) -> None:
        """Raise DataError naming each file whose rows are not all accounted for exactly once."""
        wrong = [message for f in self.files if (message := f.imbalance())]
        if wrong:
            raise DataError("\n".join(wrong))

    def for_table(self, table: str) -> list[FileAccount]:
        return [f for f in self.files if f.table == table]

    def as_dict(self) -> dict[str, Any]:
        return {"files": [f.as_dict() for f in self.files]}
