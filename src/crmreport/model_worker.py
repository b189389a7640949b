"""The model fits in a worker process of their own.

Every command that prepares a run (pipeline.prepare: check, plan, build, a report) starts
the worker once its files are opened; while the data is identified, the worker imports
scikit-learn, scipy's optimiser and crmreport.clv on the other core, with its own GIL (in a
thread of the main process they slowed the read down and were still not done when it was).
The fits then run there, arrays in and results out, and the main process never imports
those libraries.

    start()                              # the worker started (once per process)
    with fitting_in_worker():            # started now if it is not yet
        result = run(fit, arrays, ...)   # fit(arrays, ...) in the worker

Outside ``fitting_in_worker`` (tests calling a stage directly) ``run`` calls the same
function here: one code path. The worker is reused by every later run of the process
(tests make many); the executor's own exit hook stops it at exit, and it ends with a parent
that ends otherwise. It keeps its libraries (about 270 MB resident) for the life of the
process, a long-running caller too. Ctrl+C during a fit kills the worker rather than wait
for the fit.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import ParamSpec, TypeVar

from crmreport.errors import CrmError

# What the fits import, loaded by the worker as soon as it starts.
WARM_UP = ("numpy", "pandas", "scipy.special", "scipy.optimize", "sklearn.linear_model",
           "sklearn.metrics", "sklearn.pipeline", "sklearn.preprocessing", "crmreport.clv",
           "crmreport.clv.select", "crmreport.features.value_models",
           "crmreport.features.churn")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _Worker:
    pool: ProcessPoolExecutor
    pid: Future[int]  # its process's, known once it has started: to kill it mid-fit


_worker: _Worker | None = None
_starting = threading.Lock()
_in_worker: ContextVar[bool] = ContextVar("fits_in_worker", default=False)


@contextmanager
def fitting_in_worker() -> Iterator[None]:
    """Within: ``run`` sends its work to the worker, started now if it is not yet (its
    libraries are imported while the caller reads its data). A daemonic process (a
    multiprocessing pool's) may have no children: there the work runs here."""
    if not _may_start():
        yield
        return
    _started()
    token = _in_worker.set(True)
    try:
        yield
    finally:
        _in_worker.reset(token)


def start() -> None:
    """Start the worker now, if it is not yet: its libraries are imported meanwhile."""
    if _may_start():
        _started()


def stop() -> None:
    """Kill the worker, if one runs: a process ending on an error or Ctrl+C would otherwise
    wait for the worker's imports, or a fit nobody wants."""
    if _worker is not None:
        _kill(_worker)


def _may_start() -> bool:
    return not multiprocessing.current_process().daemon


def run(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)``: in the worker within ``fitting_in_worker``, else here.
    ``work`` must be a module-level function and its arguments picklable; what it raises
    is raised here."""
    with begun(work, *args, **kwargs) as result:
        return result()


@contextmanager
def begun(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Iterator[
        Callable[[], R]]:
    """:func:`run`'s work sent to the worker now; the block goes on meanwhile and calls
    what this yields for its result (waiting for it). Ctrl+C (or SystemExit) while the
    work runs kills the worker, as during ``run``; the block's own error leaves the work to
    end there, unwanted, and the worker to the next request. Outside ``fitting_in_worker``
    the work runs here when its result is asked for."""
    if not _in_worker.get():
        yield functools.partial(work, *args, **kwargs)
        return
    worker, future = _submitted(work, *args, **kwargs)
    try:
        yield functools.partial(_result, worker, future)
    except Exception:
        raise  # an error of the block (or of the work): the worker stays, for the next
    except BaseException:  # Ctrl+C (or SystemExit) while it fits: the fit is abandoned
        if not future.done():
            _kill(worker)
        raise


def _result(worker: _Worker, future: Future[R]) -> R:
    try:
        return future.result()
    except BrokenProcessPool as exc:
        _forget(worker)
        raise CrmError("the process fitting the models stopped (killed, or out of memory?) or "
                       f"sent back what could not be read{_cause(exc)}; run the command "
                       "again") from exc


def _submitted(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> tuple[
        _Worker, Future[R]]:
    worker = _started()
    try:
        return worker, worker.pool.submit(work, *args, **kwargs)
    except BrokenProcessPool:  # it died (idle, or killed during earlier work) and nothing
        _forget(worker)  # was sent: a new one is asked once; a second failure is the caller's
        worker = _started()
        return worker, worker.pool.submit(work, *args, **kwargs)


def _cause(broken: BrokenProcessPool) -> str:
    """What broke the pool, as " (Type: message)": the last line of the traceback the
    executor keeps of a result it could not unpickle; "" for a worker's death (none kept)."""
    lines = str(broken.__cause__ or "").strip("\n'").splitlines()
    return f" ({lines[-1].strip()})" if lines else ""


def _started() -> _Worker:
    global _worker
    with _starting:
        if _worker is None:
            # spawn, not fork: a fork would copy the report's DuckDB threads and locks
            pool = ProcessPoolExecutor(max_workers=1,
                                       mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_in_the_worker)
            with _no_main_script():  # this first task starts the process
                pid = pool.submit(os.getpid)  # first: known before the imports are done
            pool.submit(_warm_up, WARM_UP)  # queued before the fits
            _worker = _Worker(pool, pid)
        return _worker


@contextmanager
def _no_main_script() -> Iterator[None]:
    """The caller's main script hidden from a process started meanwhile. A spawned process
    runs the parent's script again (as ``__mp_main__``) to find what it defines; the worker
    runs crmreport's functions only, and a script without a ``__main__`` guard (a cron job's
    ``pipeline.report(...)``) would make a second report, or a build, in it.

    The swap is process-wide but lasts only while the first task starts the process (the
    executor spawns it within ``submit``): another thread of the caller reading ``__main__``
    then would see an empty module; crmreport's own (imports, the chart browser) do not."""
    script = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = script


def _forget(worker: _Worker) -> None:
    """A broken or killed worker is dropped; the next request starts a new one."""
    global _worker
    with _starting:
        if _worker is worker:
            _worker = None
    worker.pool.shutdown(wait=False, cancel_futures=True)


def _kill(worker: _Worker) -> None:
    """Stop the worker now: it ignores SIGINT, and the executor (its shutdown, its exit
    hook) would wait for the running fit to end."""
    with suppress(TimeoutError, BrokenProcessPool, ProcessLookupError):  # never started,
        os.kill(worker.pid.result(timeout=10), signal.SIGKILL)  # or already gone
    _forget(worker)


def _in_the_worker() -> None:
    # Ctrl+C reaches the whole process group: the main process stops the worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent that ends without stopping it (killed, or os._exit) would leave the worker
    # waiting for work forever, holding the parent's output pipes: it ends with its parent.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()
    # At its end the worker has sent every result and holds no file: the interpreter's
    # teardown (scikit-learn, scipy and pandas loaded), which the main process waits for
    # at its own exit, is skipped (0.4-0.6 s at a load of 7). So its exit code is always 0
    # (the executor watches its sentinel, not its code), and the exit hooks registered before
    # this one do not run: a coverage run measures nothing in the worker.
    atexit.register(os._exit, 0)


def _end_with(parent: int) -> None:
    wait([parent])
    os._exit(0)


def _warm_up(modules: tuple[str, ...]) -> None:
    for module in modules:
        with suppress(ImportError):  # a missing library is reported by the fit that needs it
            importlib.import_module(module)
