"""Test-only checkpoints: let a test stop, hold or fail a build at a named point.

Nothing happens unless ``CRMREPORT_TEST_HOOK`` is set; never set it in production. Its
value is a comma-separated list of ``action:point`` with these actions:

- ``mark``: create the file ``$CRMREPORT_TEST_HOOK_DIR/<point>`` and go on;
- ``hold``: create that file, then wait (at most HOLD_SECONDS) until ``<point>.go`` exists
  there: the test kills the process meanwhile, or lets it go on;
- ``fail``: raise OSError (disk full), as a write failing at that point would.

The points: ``locked`` (the history lock taken, nothing read yet), ``lock-busy`` (another
build holds the lock), ``history-probe`` (checking the history is writable),
``transcoded`` (an input file's UTF-8 copy written to the temporary folder),
``rendered`` (outputs written, not yet swapped in), ``swapped`` (outputs in place, the
history not yet appended), ``history-write`` (the new history written to its temporary
file, not yet renamed into place), ``appended`` (the history appended, the outputs' NOT-SENT
marker not yet removed).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

VARIABLE = "CRMREPORT_TEST_HOOK"
DIR_VARIABLE = "CRMREPORT_TEST_HOOK_DIR"
HOLD_SECONDS = 120.0


def checkpoint(point: str) -> None:
    """Act on ``point`` if the test hook names it; otherwise nothing."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    for action, _, name in (item.partition(":") for item in spec.split(",")):
        if name == point:
            _act(action, point)


def _act(action: str, point: str) -> None:
    if action == "fail":
        raise OSError(errno.ENOSPC, f"No space left on device (test hook at {point})")
    folder = Path(os.environ.get(DIR_VARIABLE, "."))
    (folder / point).write_text(str(os.getpid()), encoding="utf-8")
    if action != "hold":
        return
    deadline = time.monotonic() + HOLD_SECONDS
    while not (folder / f"{point}.go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
