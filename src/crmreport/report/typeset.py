"""The PDF's layout in a process of its own, so that it runs on a second core.

WeasyPrint's layout and drawing is pure Python and the report's longest single step; in the
report's process it would share one core (the GIL) with the HTML and the email. The
typesetter is a fresh interpreter (``python -m crmreport.report.typeset``: not a fork of a
process holding DuckDB's and the chart browser's threads, and not multiprocessing's spawn,
which runs the caller's main module again) started when a report starts. It imports
WeasyPrint while the data is read, then reads one page from stdin and writes its PDF to
stdout; an empty stdin (the report ended without a PDF, or its process died) ends it. This
module imports nothing heavy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from crmreport.errors import RenderError


class Typesetter:
    """One typesetter process, started now, for one page sent later (:meth:`submit`)."""

    def __init__(self) -> None:
        source = str(Path(__file__).resolve().parents[2])  # this crmreport, whatever the path
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [source, os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        self._sender = ThreadPoolExecutor(max_workers=1)  # sends and waits beside the caller

    def submit(self, page: Callable[[], str]) -> Future[bytes]:
        """The PDF of the page ``page`` makes (in a thread: it may wait for its charts), a
        page that fetches nothing (its images are data URLs)."""
        return self._sender.submit(self._lay_out, page)

    def _lay_out(self, page: Callable[[], str]) -> bytes:
        pdf, errors = self._process.communicate(page().encode("utf-8"))
        if self._process.returncode or not pdf:
            said = errors.decode("utf-8", "replace").strip().splitlines()
            raise RenderError("the PDF could not be laid out "
                              f"({said[-1] if said else f'exit {self._process.returncode}'})")
        return pdf

    def __enter__(self) -> Typesetter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._sender.shutdown(wait=True)
        if self._process.poll() is None:  # never sent a page: it waits for one, unneeded
            self._process.kill()
            self._process.communicate()


def typeset(html: str) -> bytes:
    """The PDF of ``html``, laid out in this process."""
    import weasyprint

    return bytes(weasyprint.HTML(string=html, base_url=None).write_pdf())


def _serve() -> None:
    import weasyprint  # noqa: F401  (seconds: imported before the page is sent)

    page = sys.stdin.buffer.read()
    if page:
        sys.stdout.buffer.write(typeset(page.decode("utf-8")))


if __name__ == "__main__":
    _serve()
