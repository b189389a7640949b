"""files: formula-safe cells read back exactly; temporary files removed once their owner died."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from crmreport.files import (
    atomic_dir,
    owned_tempdir,
    remove_stale,
    safe_cell,
    unescape_cell,
)

VALUES = ['=HYPERLINK("x")', "+1", "-5", "@a", "\tx", "\rx", "'", "'a", "''", "a'", "", "C1"]


def _dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_safe_cells_round_trip_exactly() -> None:
    for value in VALUES:
        cell = safe_cell(value)
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert unescape_cell(cell) == value


def test_only_entries_of_dead_owners_are_removed(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    stale_dir = tmp_path / f".out.{dead}.abcdefgh"
    stale_file = tmp_path / f".out.{dead}.abcd_123.tmp"
    kept = [tmp_path / f".out.{alive}.abcdefgh", tmp_path / f".out.{os.getpid()}.zzzzzzzz",
            tmp_path / f".out.5.{dead}.abcdefgh",  # another name's (".out.5") folder
            tmp_path / "out", tmp_path / f".out.{dead}.x"]
    stale_dir.mkdir()
    (stale_dir / "mail.eml").write_text("personal")
    stale_file.write_text("personal")
    for path in kept:
        path.mkdir()
    assert sorted(remove_stale(tmp_path, ".out.")) == sorted([stale_dir, stale_file])
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_atomic_dir_removes_a_killed_runs_leftovers_not_a_running_ones(tmp_path: Path) -> None:
    dead_left = tmp_path / f".out.{_dead_pid()}.abcdefgh"
    dead_old = tmp_path / f".out.{_dead_pid()}.old"
    running = tmp_path / f".out.{os.getppid()}.abcdefgh"
    for path in (dead_left, dead_old, running):
        path.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", running.name])
    with atomic_dir(tmp_path / "out") as tmp:  # a second swap leaves no .old behind
        (tmp / "b.txt").write_text("b")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", running.name])


def test_owned_tempdir_in_the_system_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"crmreport-{_dead_pid()}.abcdefgh"
    stale.mkdir()
    made = owned_tempdir("crmreport-")
    assert made.parent == tmp_path and made.name.startswith(f"crmreport-{os.getpid()}.")
    assert not stale.exists()


def test_numbers_stay_numbers_and_text_formulas_are_defused() -> None:
    assert [safe_cell(v) for v in (Decimal("-95.93"), -3, -0.5)] == ["-95.93", "-3", "-0.5"]
    assert [safe_cell(v) for v in ("-95.93", "=SUM(A1)", "+1", "@x")] == [
        "'-95.93", "'=SUM(A1)", "'+1", "'@x"]


def test_a_failed_swap_puts_the_previous_outputs_back(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "previous.txt").write_text("sent last week")
    real = os.replace
    calls = []

    def failing_second(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the new folder into place
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing_second)
    with pytest.raises(OSError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    monkeypatch.setattr(os, "replace", real)
    assert [p.name for p in target.iterdir()] == ["previous.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
