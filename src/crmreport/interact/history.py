"""The contact history: an append-only CSV. Appends rewrite the file atomically, so a crash
mid-run leaves it exactly as it was, and rows of a run already recorded are never added again."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from crmreport.errors import DataError
from crmreport.files import write_bytes
from crmreport.tables import CONTACTS

COLUMNS = list(CONTACTS)


def recorded_runs(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with path.open(encoding="utf-8", newline="") as handle:
        return {row.get("run_id") or "" for row in csv.DictReader(handle)}


def append(path: Path, rows: Sequence[Sequence[object]]) -> int:
    """Append ``rows`` (in COLUMNS order) unless their run is already recorded; return added."""
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: the contact history must be a .csv file")
    if not rows:
        return 0
    run_ids = {str(r[0]) for r in rows}
    if run_ids & recorded_runs(path):
        return 0
    existing = path.read_bytes() if path.exists() else b""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not existing:
        writer.writerow(COLUMNS)
    elif not existing.endswith(b"\n"):
        buffer.write("\n")
    writer.writerows(["" if v is None else str(v) for v in row] for row in rows)
    write_bytes(path, existing + buffer.getvalue().encode("utf-8"))
    return len(rows)
