"""Progress of the long stages (ingest, features, value models, emails, letters, charts).

A stage reports through ``stage``, which hands it a ``tick`` to call as items are done::

    with progress.stage("emails", total=len(recipients), unit="emails") as tick:
        for recipient in recipients:
            ...
            tick(1)

What is shown is up to the ``Reporter`` the caller installs with ``reporting`` (the CLI: a
bar on a terminal, one summary line per stage otherwise; none with ``--quiet``). Without
one, nothing is shown, so the library stays silent when used from Python. No reporter is
ever told a customer's data: only stage names, counts and seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

Tick = Callable[[int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Done:
    """A finished stage: its name, the items done (None: not counted), and how long."""

    name: str
    done: int | None
    unit: str
    seconds: float

    def summary(self) -> str:
        """One line: ``emails: 1,460 emails in 2.3 s``, ``features: done in 0.4 s``."""
        count = f"{self.done:,} {self.unit} " if self.done is not None and self.unit else "done "
        return f"{self.name}: {count}in {self.seconds:.1f} s"


class Reporter(Protocol):
    """How progress is shown; ``advance`` is called with each tick's count. Stages do not
    nest: one finishes (or is abandoned) before the next starts."""

    def start(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self, done: Done) -> None: ...

    def abandon(self) -> None:
        """The stage failed: close what ``start`` opened, say nothing more."""


_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "crmreport_progress", default=None)


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Show the stages run inside the block through ``reporter`` (None: show nothing)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def _ignore(count: int) -> None:
    return None


@contextlib.contextmanager
def stage(name: str, total: int | None = None, unit: str = "") -> Iterator[Tick]:
    """A stage of work; the tick it yields counts items done. Reported only if it ends
    normally: a failing stage's error says enough."""
    reporter = _REPORTER.get()
    if reporter is None:
        yield _ignore
        return
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        reporter.advance(count)

    started = time.perf_counter()
    reporter.start(name, total)
    try:
        yield tick
    except BaseException:
        reporter.abandon()
        raise
    reporter.finish(Done(name, done if unit else None, unit, time.perf_counter() - started))


def counted(items: Iterable[T], tick: Tick | None) -> Iterator[T]:
    """``items``, calling ``tick(1)`` as the loop over them finishes each one."""
    for item in items:
        yield item
        if tick is not None:
            tick(1)
