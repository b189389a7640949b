"""The model worker: work runs there only within fitting_in_worker, one worker is reused,
the fits' reasons and errors come back as they are in-process, a dead worker is an error
(but not one that died idle), Ctrl+C stops the worker at once, it ends with its parent, a
daemonic process fits in-process, and a report or plan process imports none of the fits'
libraries."""

from __future__ import annotations

import contextlib
import datetime as dt
import fractions
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crmreport.errors import CrmError
from crmreport.features.churn import MODEL_FEATURES, Split, score_churn
from crmreport.features.model_reasons import ModelError, ModelReason
from crmreport.features.value_models import fit_purchases, fit_value_arrays
from crmreport.model_worker import begun, fitting_in_worker, run

ROOT = Path(__file__).resolve().parents[1]


def in_worker(work: Any, *args: Any) -> Any:
    with fitting_in_worker():
        return run(work, *args)


def test_work_runs_in_one_worker_only_within_the_scope() -> None:
    assert run(os.getpid) == os.getpid()
    there = in_worker(os.getpid)
    assert there != os.getpid()
    assert in_worker(os.getpid) == there  # the next report reuses it
    assert run(os.getpid) == os.getpid()  # outside the scope: here again


def test_begun_work_runs_in_the_worker_while_the_block_goes_on(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    # the worker imports crmreport and the standard library only (not these tests)
    waits_for_flag = (f"([__import__('time').sleep(0.05) for _ in iter(lambda: "
                      f"__import__('os').path.exists({str(flag)!r}), True)], "
                      f"open({str(flag)!r}).read())[1]")
    with fitting_in_worker(), begun(eval, waits_for_flag) as waited:
        flag.write_text("set", encoding="utf-8")  # what the work waits for, made meanwhile
        assert waited() == "set"


def test_begun_work_runs_here_when_asked_outside_the_scope() -> None:
    done: list[int] = []
    with begun(done.append, 1) as appended:
        assert done == []
        appended()
    assert done == [1]


def test_a_block_that_fails_while_its_work_runs_leaves_the_worker_for_the_next() -> None:
    with fitting_in_worker():
        worker = run(os.getpid)
        with pytest.raises(ValueError, match="the block failed"), begun(time.sleep, 1):
            raise ValueError("the block failed")
        assert run(os.getpid) == worker


def test_ctrl_c_in_a_block_while_its_work_runs_stops_the_worker() -> None:
    with fitting_in_worker():
        worker = run(os.getpid)
        with pytest.raises(KeyboardInterrupt), begun(time.sleep, 30):
            raise KeyboardInterrupt
    assert _soon(lambda: _stopped(worker))
    assert in_worker(os.getpid) not in (worker, os.getpid())  # the next asks for another


def test_too_few_repeat_buyers_is_the_same_reason_through_the_worker() -> None:
    x, tx, t, m = np.array([0.0, 1, 0, 2]), np.array([0.0, 3, 0, 5]), np.full(4, 10.0), \
        np.array([0.0, 12, 0, 8])
    calibration = {"frequency": np.array([0, 1]), "recency": np.array([0.0, 2]),
                   "T": np.array([5.0, 5]), "frequency_holdout": np.array([1, 0])}
    args = (x, tx, t, m, calibration, "bgnbd", dt.date(2026, 3, 1))
    (here, no_columns), (there, none_there) = fit_value_arrays(*args), in_worker(
        fit_value_arrays, *args)
    assert here.reason_code == there.reason_code == ModelReason(
        "too_few_repeat_buyers", {"repeat": 2, "needed": 20})
    assert here.reason == there.reason and no_columns is none_there is None


def test_a_model_error_crosses_the_process_boundary_intact() -> None:
    with pytest.raises(ModelError) as caught:
        in_worker(fit_purchases, np.zeros(5), np.zeros(5), np.ones(5))
    assert caught.value.reason == ModelReason("too_few_repeat_buyers",
                                              {"repeat": 0, "needed": 20})
    assert str(caught.value) == "only 0 repeat buyers; at least 20 are needed to fit the " \
                                "value models"


def _split(churned: list[int]) -> Split:
    n = len(churned)
    return Split(np.array([f"C{i:03d}" for i in range(n)]),
                 np.ones((n, len(MODEL_FEATURES))), np.array(churned))


def test_a_one_class_split_is_the_same_reason_through_the_worker() -> None:
    train, check = _split([1] * 30 + [0] * 30), _split([1] * 45 + [0] * 5)
    now = Split(check.ids, check.x, None)
    cutoffs = (dt.date(2025, 9, 2), dt.date(2025, 12, 1))
    here = score_churn(train, check, now, cutoffs, 90)
    there = in_worker(score_churn, train, check, now, cutoffs, 90)
    expected = ModelReason("one_class", {"split": "check", "cutoff": dt.date(2025, 12, 1),
                                         "churned": 45, "stayed": 5, "horizon": 90,
                                         "needed": 20})
    assert here == there == ({"reason": str(expected), "reason_code": expected}, None)


def test_a_worker_that_dies_is_an_error_and_the_next_request_starts_another() -> None:
    before = in_worker(os.getpid)
    with pytest.raises(CrmError, match="the process fitting the models stopped"):
        in_worker(os._exit, 3)
    after = in_worker(os.getpid)
    assert after not in (before, os.getpid())


def _stopped(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # a zombie: its parent (or, orphaned, init) reaps it


def _soon(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 30  # a bound for a busy machine, not a timing
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_worker_that_died_idle_is_replaced_without_an_error() -> None:
    before = in_worker(os.getpid)
    os.kill(before, signal.SIGKILL)
    # reaped by the executor, which marked itself broken first: a submit now raises
    # BrokenProcessPool, though nothing was sent
    assert _soon(lambda: not Path(f"/proc/{before}").exists())
    after = in_worker(os.getpid)
    assert after not in (before, os.getpid())


def test_a_result_that_cannot_be_read_here_is_an_error_naming_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(*args: object) -> None:
        raise ValueError("no Fraction here")

    # how this process unpickles a Fraction; the worker, a process of its own, makes one
    monkeypatch.setattr(fractions, "Fraction", unreadable)
    with pytest.raises(CrmError, match=r"or sent back what could not be read \(ValueError: "
                                       r"no Fraction here\); run the command again"):
        in_worker(eval, "__import__('fractions').Fraction(1, 3)")
    monkeypatch.undo()
    assert in_worker(eval, "__import__('fractions').Fraction(1, 3)") == fractions.Fraction(1, 3)


def test_ctrl_c_during_a_fit_stops_the_worker_at_once() -> None:
    code = ("import os, time\nfrom crmreport.model_worker import fitting_in_worker, run\n"
            "with fitting_in_worker():\n    print(run(os.getpid), flush=True)\n"
            "    run(time.sleep, 30)\n")
    job = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert job.stdout is not None
        worker = int(job.stdout.readline())
        time.sleep(1)  # the sleep is running in the worker
        job.send_signal(signal.SIGINT)
        _, err = job.communicate(timeout=15)  # unfixed, it waited the 30 s out
    finally:
        job.kill()
        job.wait()
    assert "KeyboardInterrupt" in err and job.returncode != 0
    assert _soon(lambda: _stopped(worker))


def test_a_worker_ends_with_a_parent_that_ends_without_stopping_it() -> None:
    code = ("import os\nfrom crmreport.model_worker import fitting_in_worker, run\n"
            "with fitting_in_worker():\n    print(run(os.getpid), flush=True)\n"
            "    os._exit(0)\n")  # as a SIGKILL would: no exit hook stops the worker
    job = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert job.stdout is not None
    worker = int(job.stdout.readline())
    try:
        assert job.wait(timeout=60) == 0
        assert _soon(lambda: _stopped(worker))  # unfixed, it waited for work forever
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        job.stdout.close()


def test_a_daemonic_process_fits_in_process(tmp_path: Path) -> None:
    # a multiprocessing pool's processes may have no children of their own
    script = tmp_path / "daemon.py"
    script.write_text(
        "import multiprocessing, os\nfrom crmreport.model_worker import fitting_in_worker, run\n"
        "def fit(answer):\n    with fitting_in_worker():\n"
        "        answer.put(run(os.getpid) == os.getpid())\n"
        "if __name__ == '__main__':\n    spawn = multiprocessing.get_context('spawn')\n"
        "    answer = spawn.Queue()\n"
        "    daemon = spawn.Process(target=fit, args=(answer,), daemon=True)\n"
        "    daemon.start()\n    print(answer.get(timeout=60))\n    daemon.join(timeout=60)\n"
        "    print(daemon.exitcode)\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=180)
    assert done.stdout.split() == ["True", "0"], done.stderr


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    # a spawned process would run the parent's script again, and its report or build too
    script = tmp_path / "job.py"
    script.write_text("import os\nfrom crmreport.model_worker import fitting_in_worker, run\n"
                      "print('script ran')\nwith fitting_in_worker():\n"
                      "    print('elsewhere', run(os.getpid) != os.getpid())\n",
                      encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                         text=True).stdout
    assert out.splitlines() == ["script ran", "elsewhere True"]


@pytest.mark.parametrize("command", ["report", "plan"])
def test_a_report_or_plan_process_imports_no_fitting_library(tmp_path: Path,
                                                             command: str) -> None:
    from crmreport.demo import generate

    generate(tmp_path / "data", customers=1500)
    args = ["--quiet", command, str(ROOT / "campaigns" / "demo.yaml"),
            "--data-dir", str(tmp_path / "data")]
    if command == "report":
        args += ["--definition", str(ROOT / "reports" / "weekly.yaml"),
                 "--out", str(tmp_path / "reports"), "--json", str(tmp_path / "summary.json")]
    code = ("import json, sys\nfrom crmreport.cli import main\nfrom crmreport import model_worker\n"
            f"try:\n    main({args!r})\nexcept SystemExit as stop:\n    assert not stop.code\n"
            "print(json.dumps({'worker': model_worker._worker is not None, 'imported': [m for m"
            " in ('sklearn', 'scipy.optimize', 'scipy.stats') if m in sys.modules]}))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True,
                         capture_output=True, text=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen == {"worker": True, "imported": []}
    if command == "report":
        summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
        assert summary["figures"]["equity"]["value"] > 0  # the value models were fitted
