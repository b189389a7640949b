"""Writing outputs safely: atomic replacement, formula-safe CSV, sanitised file names.

Temporary files and folders (which hold personal data) carry their owner's process id in
their name, ``.<name>.<pid>.<random>``: a later run removes those whose owner is gone (a
killed build), never those of a build still running.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

# A leading one of these makes a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The escape itself is escaped too, so that reading back (unescape_cell) is exact.
ESCAPED_START = (*_FORMULA_START, "'")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
DEFAULT_WAIT = 600.0  # seconds a build waits for another one that holds the contact history
_OWNED = re.compile(r"(\d+)\.(?:[a-z0-9_]{8}(?:\.tmp)?|old)")  # after the prefix: pid.random


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=owned_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as handle:
        handle.write(data)


def write_text(path: Path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def owned_prefix(name: str) -> str:
    """The name prefix of this process's temporary files for ``name``."""
    return f".{name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale(folder: Path, prefix: str) -> list[Path]:
    """Remove ``folder/<prefix><pid>.*`` left by processes that are gone; return them."""
    removed = []
    for entry in map(Path, glob.glob(glob.escape(str(folder / prefix)) + "*")):
        owned = _OWNED.fullmatch(entry.name[len(prefix):])  # not another name's ".<name>.x."
        if not owned or _alive(int(owned[1])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def owned_tempdir(prefix: str, parent: Path | None = None) -> Path:
    """A new temporary folder ``<prefix><pid>.<random>`` (in the system's temporary folder by
    default), after removing those of ``prefix`` whose owner is gone."""
    where = parent or Path(tempfile.gettempdir())
    remove_stale(where, prefix)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=where))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Fill a temporary directory; swap it in for ``path`` only if the block succeeds.

    Leftovers of a killed run beside ``path`` are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = owned_tempdir(f".{path.name}.", path.parent)
    old: Path | None = None
    try:
        yield tmp
        old = path.with_name(f"{owned_prefix(path.name)}old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not path.exists():
            os.replace(old, path)  # the swap failed half-way: the previous outputs come back
        raise


def safe_cell(value: object) -> str:
    """Render a value for CSV so that no spreadsheet evaluates it as a formula."""
    text = "" if value is None else str(value)
    if isinstance(value, int | float | Decimal):  # a number is no formula: -95.93 stays one
        return text
    if text.startswith(ESCAPED_START):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The value ``safe_cell`` was given: one leading apostrophe removed where it added one.

    A lone leading apostrophe before anything else was not added by safe_cell (histories
    written before it escaped them) and is kept."""
    if text.startswith("'") and text[1:].startswith(ESCAPED_START):
        return text[1:]
    return text


def write_safe_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a formula-safe UTF-8 CSV atomically; return the number of data rows."""
    count = 0
    with atomic_file(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            count += 1
    return count


def safe_filename(text: str, max_length: int = 80) -> str:
    """A file name derived from data: no separators, no dot-files, bounded length."""
    name = _UNSAFE_NAME.sub("_", text).strip("._") or "unnamed"
    return name[:max_length]
