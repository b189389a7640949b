"""Builds sharing a contact history: at once, killed, or unable to write it.

Builds run as separate processes (the CLI); the test hook (crmreport.testhook) holds one at
a named point, where the test lets it go on or kills it. Expectations come from the same
builds run one after the other on a copy of the same shop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport import testhook
from crmreport.cli import main
from tests.conftest import CUSTOMERS, write_shop

WAIT = 120.0  # bound on every wait for a marker; a build takes a few seconds


def _shop(folder: Path, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True)
    write_shop(folder)
    (folder / "customers.csv").write_bytes(CUSTOMERS.encode(encoding))
    text = (folder / "campaign.yaml").read_text(encoding="utf-8")
    other = text.replace("campaign: test-campaign", "campaign: other-campaign").replace(
        "policy: {control_group: 0.0,", "policy: {quiet_days: 30, control_group: 0.0,")
    assert "quiet_days" in other
    (folder / "other.yaml").write_text(other, encoding="utf-8")
    return folder


def _start(shop: Path, out: Path, hook: str = "", hook_dir: Path | None = None,
           campaign: str = "campaign.yaml", tmp: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, testhook.VARIABLE: hook, testhook.DIR_VARIABLE: str(hook_dir or out)}
    if tmp:
        env["TMPDIR"] = str(tmp)
    if hook_dir:
        hook_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "crmreport", "build", str(shop / campaign), "--out", str(out),
         "--wait", str(WAIT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def _run(shop: Path, out: Path, campaign: str = "campaign.yaml", tmp: Path | None = None
         ) -> str:
    proc = _start(shop, out, campaign=campaign, tmp=tmp)
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    return err


def _wait_for(marker: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"build ended before {marker.name}: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, f"no {marker.name} after {WAIT} s"
        time.sleep(0.05)


def _finish(proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    return err


@pytest.mark.parametrize("second", ["campaign.yaml", "other.yaml"])
def test_two_builds_at_once_leave_the_history_of_one_after_the_other(
        tmp_path: Path, second: str) -> None:
    serial = _shop(tmp_path / "serial")
    _run(serial, tmp_path / "serial-a")
    _run(serial, tmp_path / "serial-b", campaign=second)
    expected = (serial / "contacts.csv").read_bytes()

    shop = _shop(tmp_path / "together")
    first = _start(shop, tmp_path / "a", "hold:locked", tmp_path / "hook-a")
    _wait_for(tmp_path / "hook-a" / "locked", first)
    other = _start(shop, tmp_path / "b", "mark:lock-busy", tmp_path / "hook-b", second)
    _wait_for(tmp_path / "hook-b" / "lock-busy", other)  # it waits for the first: let it go
    (tmp_path / "hook-a" / "locked.go").touch()
    _finish(first)
    waited = _finish(other)

    assert "waiting up to 120 s for another build" in waited
    assert "no one new to contact" in waited  # planned against the first build's contacts
    assert (shop / "contacts.csv").read_bytes() == expected
    rows = expected.decode().splitlines()[1:]
    assert len(rows) == 2 and len({r.split(",")[0] for r in rows}) == 1
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_a_build_gives_up_after_its_wait(tmp_path: Path) -> None:
    shop = _shop(tmp_path / "shop")
    first = _start(shop, tmp_path / "a", "hold:locked", tmp_path / "hook")
    _wait_for(tmp_path / "hook" / "locked", first)
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"), "--out",
                                       str(tmp_path / "b"), "--wait", "0.2"])
    (tmp_path / "hook" / "locked.go").touch()
    _finish(first)
    assert result.exit_code == 1
    assert "still holds the contact history after 0.2 s; nothing was written" in result.stderr
    assert not (tmp_path / "b").exists()


def _leftovers(shop: Path, out: Path, tmp: Path) -> list[str]:
    found = [*shop.glob(".contacts.csv.*"), *out.glob(".test-campaign.*"),
             *tmp.glob("crmreport-*")]
    return sorted(p.name for p in found)


@pytest.mark.parametrize("point", ["locked", "transcoded", "rendered", "swapped",
                                   "history-write"])
def test_a_killed_build_then_a_rerun_leave_a_correct_history_and_no_leftovers(
        tmp_path: Path, point: str) -> None:
    reference = _shop(tmp_path / "reference", encoding="cp1252")  # read via a UTF-8 copy
    _run(reference, tmp_path / "reference-out")
    expected = (reference / "contacts.csv").read_bytes()

    shop, out, tmp = _shop(tmp_path / "shop", "cp1252"), tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    build = _start(shop, out, f"hold:{point}", tmp_path / "hook", tmp=tmp)
    _wait_for(tmp_path / "hook" / point, build)
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=WAIT)
    left = _leftovers(shop, out, tmp)
    assert bool(left) == (point in ("transcoded", "rendered", "history-write")), left
    assert not (shop / "contacts.csv").exists()

    _run(shop, out, tmp=tmp)
    assert (shop / "contacts.csv").read_bytes() == expected
    assert _leftovers(shop, out, tmp) == []
    manifest = "test-campaign/manifest.json"
    assert (out / manifest).read_bytes() == (tmp_path / "reference-out" / manifest).read_bytes()


def test_an_unwritable_history_is_found_before_rendering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = _shop(tmp_path / "shop")
    monkeypatch.setenv(testhook.VARIABLE, "fail:history-probe")
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"), "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "cannot be written (No space left on device" in result.stderr
    assert "nothing was rendered" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (shop / "contacts.csv").exists()


def test_a_failed_append_moves_the_outputs_aside_as_not_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, out = _shop(tmp_path / "shop"), tmp_path / "out"
    (shop / "contacts.csv").write_text(",".join(["run_id", "campaign", "customer_id",
                                                 "contacted_at", "channel", "segment", "offer",
                                                 "variant", "test_group", "content_hash",
                                                 "coupon"]) + "\n")
    before = (shop / "contacts.csv").read_bytes()
    monkeypatch.setenv(testhook.VARIABLE, "fail:history-write")
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (aside,) = out.iterdir()
    assert aside.name.startswith("test-campaign.NOT-SENT-test-campaign-20260301-")
    assert f"moved to {aside}: do NOT send them" in result.stderr
    assert "No space left on device" in result.stderr
    assert len(list((aside / "emails").glob("*.eml"))) == 2
    assert (shop / "contacts.csv").read_bytes() == before
    assert sorted(p.name for p in shop.glob(".contacts.csv.*")) == []

    monkeypatch.delenv(testhook.VARIABLE)
    again = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert "2 contacts added to the history" in again.stderr
    assert len((shop / "contacts.csv").read_text().splitlines()) == 3


def _kill_at(point: str, shop: Path, out: Path, hook: Path) -> None:
    build = _start(shop, out, f"hold:{point}", hook)
    _wait_for(hook / point, build)
    build.send_signal(signal.SIGKILL)
    build.wait(timeout=WAIT)


def test_a_build_killed_before_recording_leaves_its_folder_marked_not_sent(
        tmp_path: Path) -> None:
    shop, out = _shop(tmp_path / "shop"), tmp_path / "out"
    _kill_at("swapped", shop, out, tmp_path / "hook")
    folder = out / "test-campaign"
    assert len(list((folder / "emails").glob("*.eml"))) == 2  # the outputs are in place...
    assert not (shop / "contacts.csv").exists()  # ...but not recorded
    run_id = (folder / "NOT-SENT").read_text().splitlines()[0]
    assert run_id.startswith("test-campaign-20260301-")
    manifest = (folder / "manifest.json").read_text()
    assert "NOT-SENT" not in manifest and run_id in manifest

    err = _run(shop, out)  # the next build reports it, renders the same run and records it
    assert f"warning: {folder} is marked NOT-SENT" in err and "(rebuilt now)" in err
    assert not (folder / "NOT-SENT").exists()
    assert f"run {run_id}: 2 emails" in err
    assert len((shop / "contacts.csv").read_text().splitlines()) == 3


def test_a_folder_marked_not_sent_is_reported_until_rebuilt(tmp_path: Path) -> None:
    shop, out = _shop(tmp_path / "shop"), tmp_path / "out"
    _kill_at("swapped", shop, out, tmp_path / "hook")
    other = CliRunner().invoke(main, ["build", str(shop / "other.yaml"), "--out", str(out)])
    assert other.exit_code == 0, other.output
    assert (f"warning: {out / 'test-campaign'} is marked NOT-SENT: an earlier build wrote it "
            "but did not record its contacts in the history; do NOT send it; build its "
            "campaign again") in other.stderr
    assert (out / "test-campaign" / "NOT-SENT").exists()
    assert not (out / "other-campaign" / "NOT-SENT").exists()


def test_a_build_killed_just_after_recording_is_not_reported(tmp_path: Path) -> None:
    shop, out = _shop(tmp_path / "shop"), tmp_path / "out"
    _kill_at("appended", shop, out, tmp_path / "hook")
    assert (out / "test-campaign" / "NOT-SENT").exists()
    recorded = (shop / "contacts.csv").read_bytes()
    err = _run(shop, out)
    assert "NOT-SENT" not in err and "no one new to contact" in err
    assert not (out / "test-campaign" / "NOT-SENT").exists()  # its run is in the history
    assert (shop / "contacts.csv").read_bytes() == recorded
