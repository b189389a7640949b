"""The PDF's layout in a process of its own, so that it runs on a second core.

WeasyPrint's layout and drawing is pure Python and the report's longest single step; in
this process it would share one core (the GIL) with the HTML and the email. The
typesetter is spawned when a report starts (not forked: the report process holds DuckDB's
and the chart browser's threads), imports WeasyPrint while the data is read, and lays out
the page it is sent. This module imports nothing heavy: it is what the typesetter loads.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_PARENT_CHECK_SECONDS = 1.0


def start_typesetter() -> ProcessPoolExecutor:
    """A one-process pool, already starting and importing WeasyPrint."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_follow, initargs=(os.getpid(),))
    pool.submit(_warm_up)  # a pool starts its process with its first task
    return pool


def typeset(html: str) -> bytes:
    """The PDF of ``html`` (a page that fetches nothing: images are inline data URLs)."""
    import weasyprint

    return bytes(weasyprint.HTML(string=html, base_url=None).write_pdf())


def _warm_up() -> None:
    import weasyprint  # noqa: F401  (the import is the point: seconds, while data is read)


def _follow(report: int) -> None:
    """End this process when the report process is gone (say, killed): an orphan would
    wait for a page forever."""
    def watch() -> None:
        while os.getppid() == report:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
