"""The PDF's layout in a process of its own, so that it runs on a second core.

WeasyPrint's layout and drawing is pure Python and the report's longest single step; in the
report's process it would share one core (the GIL) with the HTML and the email. The
typesetter is a fresh interpreter (``python -m crmreport.report.typeset``: not a fork of a
process holding DuckDB's and the chart browser's threads, and not multiprocessing's spawn,
which runs the caller's main module again). The report starts it once its data is read
(before, both cores are busy reading it) and it imports WeasyPrint while the report computes
its figures; it then reads one page from stdin and writes its PDF to stdout. An empty stdin
(the report ended without a PDF, or its process died) ends it.

The page may name charts still being drawn (``<img src="chart:NAME">``): they follow the
page on stdin, each as it is drawn, and the layout waits for one only when it gets to it,
so that styling the page overlaps the drawing. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from crmreport.errors import RenderError

CHART = "chart:"  # the URL scheme of a chart sent after the page
_PAGE = "page"  # the name of the page's frame


class Typesetter:
    """One typesetter process, started by :meth:`start` (or the page), for one page sent
    later (:meth:`submit`)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._said: IO[bytes] | None = None  # its warnings (a pipe could fill and block it)
        self._sender = ThreadPoolExecutor(max_workers=1)  # sends and waits beside the caller

    def start(self) -> None:
        """Start the process (it imports WeasyPrint, for seconds), if not yet started."""
        if self._process is None:
            source = str(Path(__file__).resolve().parents[2])  # this crmreport, whatever path
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                filter(None, [source, os.environ.get("PYTHONPATH")])))
            self._said = tempfile.TemporaryFile()  # noqa: SIM115  (closed on exit)
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self._said, env=env)

    def abort(self) -> None:
        """End the process now: its PDF is not wanted."""
        if self._process and self._process.poll() is None:
            self._process.kill()

    def submit(self, page: Callable[[], str],
               charts: Mapping[str, Callable[[], bytes]] | None = None) -> Future[bytes]:
        """The PDF of the page ``page`` makes (in a thread), with the SVG each of ``charts``
        gives (it may wait for its drawing) where the page names ``chart:NAME``; the page
        fetches nothing else but data URLs."""
        return self._sender.submit(self._lay_out, page, charts or {})

    def _lay_out(self, page: Callable[[], str],
                 charts: Mapping[str, Callable[[], bytes]]) -> bytes:
        self.start()
        process = self._process
        assert process is not None and process.stdin is not None  # started, with a pipe
        stdin = process.stdin
        try:
            _send(stdin, _PAGE, page().encode("utf-8"))
            for name, chart in charts.items():
                _send(stdin, name, chart())
        except BrokenPipeError:
            pass  # it ended early: its exit is reported below
        except BaseException:
            process.kill()  # no page, or a chart not drawn: no PDF without it
            process.communicate()
            raise
        pdf = process.communicate()[0]  # closes stdin, reads the PDF
        if process.returncode or not pdf:
            assert self._said is not None  # opened with the process
            self._said.seek(0)
            said = self._said.read().decode("utf-8", "replace").strip().splitlines()
            raise RenderError("the PDF could not be laid out "
                              f"({said[-1] if said else f'exit {process.returncode}'})")
        return pdf

    def __enter__(self) -> Typesetter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:
            self.abort()  # the report failed: its layout is not waited for
        self._sender.shutdown(wait=True)
        if self._process and self._process.poll() is None:  # sent no page: it waits, unneeded
            self._process.kill()
            self._process.communicate()
        if self._said:
            self._said.close()


def typeset(html: str, charts: _Charts | None = None) -> bytes:
    """The PDF of ``html``, laid out in this process (``charts``: those sent after it)."""
    import weasyprint

    fetcher = charts.fetcher() if charts else None
    return bytes(weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf())


def _send(stream: IO[bytes], name: str, data: bytes) -> None:
    if not re.fullmatch(r"[\w.-]+", name, re.ASCII):
        raise RenderError(f"a chart's name must be a word of ASCII letters, not {name!r}")
    stream.write(b"%s %d\n" % (name.encode("ascii"), len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> tuple[str, bytes] | None:
    """The next (name, data) frame, or None at the end of the stream."""
    header = stream.readline()
    if not header:
        return None
    name, size = header.decode("ascii").split()
    data = stream.read(int(size))
    if len(data) != int(size):
        raise ValueError(f"{name} ended after {len(data)} of {size} bytes")
    return name, data


class _Charts:
    """The charts that follow the page on ``stream``, read as the layout asks for them."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._arrived: dict[str, bytes] = {}
        self.missing: list[str] = []

    def svg(self, name: str) -> bytes:
        while name not in self._arrived:
            frame = _receive(self._stream)
            if frame is None:  # WeasyPrint would leave the image out and go on
                self.missing.append(name)
                raise ValueError(f"the chart {name} was not sent")
            self._arrived[frame[0]] = frame[1]
        return self._arrived[name]

    def fetcher(self) -> Any:
        """WeasyPrint's URL fetcher, with ``chart:NAME`` from the stream."""
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        charts = self

        class Fetcher(URLFetcher):  # type: ignore[misc]
            def fetch(self, url: str, headers: Any = None) -> Any:
                if not url.startswith(CHART):
                    return super().fetch(url, headers)
                return URLFetcherResponse(url, charts.svg(url.removeprefix(CHART)),
                                          {"Content-Type": "image/svg+xml"})

        return Fetcher()

    def drain(self) -> None:
        """Read what was sent and not asked for, so that the sender does not block."""
        while _receive(self._stream) is not None:
            pass


def _serve() -> None:
    import weasyprint  # seconds: imported before the page is sent

    # fontconfig's and Pango's first use, a tenth of a second, while the page is awaited
    weasyprint.HTML(string="<p>1,234.50 <b>x</b></p>").render()
    stdin = sys.stdin.buffer
    page = _receive(stdin)
    if page is None:
        return
    if page[0] != _PAGE:
        sys.exit(f"the page came as {page[0]}")
    charts = _Charts(stdin)
    pdf = typeset(page[1].decode("utf-8"), charts)
    charts.drain()
    if charts.missing:
        sys.exit(f"the charts {', '.join(charts.missing)} were not sent")
    sys.stdout.buffer.write(pdf)


if __name__ == "__main__":
    _serve()
    sys.stdout.flush()
    sys.stderr.flush()
    # no teardown: freeing WeasyPrint's objects one by one takes about half a second, and
    # the report waits for this process's end (its stdout's end) to take the PDF
    os._exit(0)
