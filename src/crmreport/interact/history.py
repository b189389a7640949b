"""The contact history: an append-only CSV. Appends rewrite the file atomically, so a crash
mid-run leaves it exactly as it was, and rows of a run already recorded are never added again.

Its columns are the canonical contacts table's, ``coupon`` included (the code a treated
customer got; empty otherwise). A history written before coupons existed gets the column on
its next append, its rows otherwise unchanged. Codes in the history are never handed out again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crmreport.engine import Connection
from crmreport.errors import DataError
from crmreport.files import write_bytes
from crmreport.tables import CONTACTS

COLUMNS = list(CONTACTS.columns)


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:  # Excel saves with a BOM
        return list(csv.DictReader(handle))


def recorded_runs(path: Path) -> set[str]:
    return {row.get("run_id") or "" for row in _rows(path)}


def used_coupons(path: Path) -> set[str]:
    """Every coupon code recorded in the history at ``path``."""
    return {code.strip() for row in _rows(path) if (code := row.get("coupon") or "").strip()}


Final = dict[str, dict[str, dict[str, int]]]  # offer -> channel -> group -> customers


@dataclass(frozen=True)
class LastRun:
    run_id: str
    contacted_at: str
    final: Final  # customers per offer, channel and group


def last_run(con: Connection, campaign: str) -> LastRun | None:
    """The last run of ``campaign`` in the run's ``contacts`` table (the history as loaded)."""
    rows = con.execute("""
        WITH h AS (SELECT * FROM contacts WHERE campaign = ?),
        last AS (SELECT run_id, contacted_at FROM h ORDER BY contacted_at DESC, run_id DESC
                 LIMIT 1)
        SELECT run_id, contacted_at::VARCHAR, offer, channel, test_group, count(*)
        FROM h JOIN last USING (run_id, contacted_at) GROUP BY ALL ORDER BY ALL""",
                       [campaign]).fetchall()
    if not rows:
        return None
    final: Final = {}
    for _, _, offer, channel, group, count in rows:
        final.setdefault(offer, {}).setdefault(channel, {})[group] = count
    return LastRun(rows[0][0], rows[0][1], final)


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
    header = _header(existing) if existing.strip() else []
    target = [*COLUMNS, *(c for c in header if c not in COLUMNS)]  # other columns kept, last
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not header:
        existing = b""
        writer.writerow(COLUMNS)
    elif header != target:
        existing = _widened(path, header, target)
    elif not existing.endswith(b"\n"):
        buffer.write("\n")
    pad = [""] * (len(target) - len(COLUMNS)) if header else []
    writer.writerows(["" if v is None else str(v) for v in row] + pad for row in rows)
    write_bytes(path, existing + buffer.getvalue().encode("utf-8"))
    return len(rows)


def _header(data: bytes) -> list[str]:
    first = data.split(b"\n", 1)[0].decode("utf-8-sig").strip("\r")
    return next(csv.reader([first]), [])


def _widened(path: Path, header: list[str], target: list[str]) -> bytes:
    """The history rewritten with the ``target`` columns (a column it lacked left empty)."""
    if not set(header) & set(COLUMNS):
        raise DataError(f"{path}: does not look like a contact history; expected the columns "
                        f"{', '.join(COLUMNS)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(target)
    writer.writerows([row.get(c) or "" for c in target] for row in _rows(path))
    return buffer.getvalue().encode("utf-8")
