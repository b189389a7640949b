"""The contact history: an append-only CSV. Appends rewrite the file atomically, so a crash
mid-run leaves it exactly as it was, and rows of a run already recorded are never added again.

A build holds ``<history>.lock`` (``locked``) from before it reads the history until its
append is done, so two builds sharing a history run one after the other and the second
plans against the first one's contacts. Cells are written formula-safe (``safe_cell``) and
read back exactly (``unescape_cell``).

Its columns are the canonical contacts table's, ``coupon`` included (the code a treated
customer got; empty otherwise). A history written before coupons existed gets the column on
its next append, its rows otherwise unchanged. Codes in the history are never handed out again.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from crmreport.engine import Connection
from crmreport.errors import DataError
from crmreport.files import atomic_file, owned_prefix, remove_stale, safe_cell, unescape_cell
from crmreport.tables import CONTACTS
from crmreport.testhook import checkpoint

COLUMNS = list(CONTACTS.columns)
POLL_SECONDS = 0.1
# The longest cell the history is read back with (the csv module's limit, 131,072 characters):
# a longer one would make the history unreadable after the append, so build refuses first.
FIELD_LIMIT = csv.field_size_limit()


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(path: Path, wait: float, on_wait: Callable[[str], None] | None = None
           ) -> Iterator[None]:
    """Hold the history's lock for the block; wait at most ``wait`` seconds for another build.

    The lock file stays (removing it would let a third build lock a different file)."""
    target = lock_path(path)
    try:
        handle = target.open("a+", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{target}: cannot open the contact history's lock file "
                        f"({exc.strerror}); make its folder writable") from None
    with handle:
        _acquire(handle, target, wait, on_wait)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")  # for the message of a build that waits
        handle.flush()
        checkpoint("locked")
        yield  # closing the file releases the lock, also when the process is killed


def _acquire(handle: io.TextIOWrapper, target: Path, wait: float,
             on_wait: Callable[[str], None] | None) -> None:
    if _try_lock(handle):
        return
    handle.seek(0)
    holder = handle.read().strip() or "unknown"
    if on_wait:
        on_wait(f"waiting up to {wait:g} s for another build (process {holder}) that holds "
                f"{target} ...")
    checkpoint("lock-busy")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        if _try_lock(handle):
            return
    raise DataError(f"{target}: another build (process {holder}) still holds the contact "
                    f"history after {wait:g} s; nothing was written. Rerun when it is done, "
                    "or wait longer with --wait SECONDS")


def _try_lock(handle: io.TextIOWrapper) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def check_writable(path: Path) -> None:
    """Raise DataError unless the history at ``path`` can be replaced: its folder takes a new
    file beside it, the file itself, if there, is a writable file, and its rows read back as
    the append reads them. Run before rendering."""
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: the contact history must be a .csv file")
    try:
        checkpoint("history-probe")
        if path.exists() and (not path.is_file() or not os.access(path, os.W_OK)):
            raise PermissionError(13, "not a writable file")
        fd, probe = tempfile.mkstemp(prefix=owned_prefix(path.name), suffix=".tmp",
                                     dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(f"{path}: the contact history cannot be written ({exc.strerror}); "
                        "nothing was rendered. Make the file and its folder writable, "
                        "then build again") from None
    _rows(path)  # a history the append could not read fails here, before rendering


def check_fields(path: Path, rows: Sequence[Sequence[object]],
                 columns: Sequence[str]) -> None:
    """Raise DataError if a cell of ``rows`` (named by ``columns``) would be longer than the
    history can read back. Run before rendering; the message names the column, no value."""
    for number, row in enumerate(rows, start=1):
        for column, value in zip(columns, row, strict=True):
            size = len(safe_cell(value))
            if size > FIELD_LIMIT:
                raise DataError(f"{path}: the {column} of contact {number:,} of this run has "
                                f"{size:,} characters, more than the {FIELD_LIMIT:,} a contact "
                                "history can hold; nothing was rendered. Shorten it at its "
                                "source (the customers file or the coupon pool), then build "
                                "again")


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    rows: list[dict[str, str]] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:  # Excel saves with a BOM
        reader = csv.DictReader(handle)
        read = 0  # lines read up to the end of the last whole record
        try:
            if reader.fieldnames is not None:  # the header
                read = reader.line_num
            for row in reader:
                rows.append({k: unescape_cell(v) if isinstance(v, str) else v
                             for k, v in row.items()})
                read = reader.line_num
        except csv.Error as exc:  # the record after the last whole one starts the trouble
            raise _unreadable(path, read + 1, exc) from None
    return rows


def _unreadable(path: Path, line: int, exc: csv.Error) -> DataError:
    """What to say of a history whose record at ``line`` cannot be read."""
    return DataError(f"{path}: line {line}: the contact history cannot be read ({exc})"
                     f"{_why(exc)}. Restore the file as build wrote it (e.g. from a backup), "
                     "then build again")


def _why(exc: csv.Error) -> str:
    """What a csv error means for a history, when the module's words do not say it."""
    if "field limit" in str(exc):
        return (f": a cell is longer than {FIELD_LIMIT:,} characters, or a quote opened "
                "there is never closed")
    return ""


def recorded_runs(path: Path) -> set[str]:
    return {row.get("run_id") or "" for row in _rows(path)}


def run_rows(path: Path, run_id: str) -> list[dict[str, str]]:
    """The rows of one recorded run, as written (cells unescaped), in file order."""
    return [row for row in _rows(path) if row.get("run_id") == run_id]


def used_coupons(path: Path) -> set[str]:
    """Every coupon code recorded in the history at ``path``.

    Reads the coupon column alone (a history without one is answered by its header): made
    into dicts cell by cell, 80,000 contacts cost 0.7 s of CPU on every plan."""
    if not path.exists():
        return set()
    codes: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle)
        read = 0  # lines read up to the end of the last whole record
        try:
            header = next(records, [])
            if "coupon" not in header:
                return codes
            at = len(header) - 1 - header[::-1].index("coupon")  # as DictReader: the last
            read = records.line_num
            for record in records:
                if len(record) > at and (code := unescape_cell(record[at]).strip()):
                    codes.add(code)
                read = records.line_num
        except csv.Error as exc:  # the record after the last whole one starts the trouble
            raise _unreadable(path, read + 1, exc) from None
    return codes


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
    """Append ``rows`` (in COLUMNS order) unless their run is already recorded; return the
    rows the file now holds for them, counted after writing. Call it holding ``locked``."""
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: the contact history must be a .csv file")
    if not rows:
        return 0
    remove_stale(path.parent, f".{path.name}.")  # a killed append's temporary copy
    run_ids = {str(r[0]) for r in rows}
    if run_ids & recorded_runs(path):
        return 0
    _write(path, rows)
    written = sum(row.get("run_id") in run_ids for row in _rows(path))
    if written != len(rows):
        raise DataError(f"{path}: {written} of {len(rows)} contacts of run "
                        f"{', '.join(sorted(run_ids))} read back after writing")
    return written


def _write(path: Path, rows: Sequence[Sequence[object]]) -> None:
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
    writer.writerows([safe_cell(v) for v in row] + pad for row in rows)
    with atomic_file(path, "wb") as handle:
        handle.write(existing + buffer.getvalue().encode("utf-8"))
        checkpoint("history-write")


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
    writer.writerows([safe_cell(row.get(c)) for c in target] for row in _rows(path))
    return buffer.getvalue().encode("utf-8")
