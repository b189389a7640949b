"""The PDF's layout in a process of its own, so that it runs on a second core.

WeasyPrint's layout and drawing is pure Python and the report's longest single step; in the
report's process it would share one core (the GIL) with the HTML and the email. The
typesetter is a fresh interpreter (``python -m crmreport.report.typeset``: not a fork of a
process holding DuckDB's and the chart browser's threads, and not multiprocessing's spawn,
which runs the caller's main module again). The report starts it once its data is read
(before, both cores are busy reading it) and it imports WeasyPrint while the report computes
its figures; it then reads the charts' sizes and one page from stdin and writes its PDF to
stdout. An empty stdin (the report ended without a PDF, or its process died) ends it.

The page may name charts still being made and drawn (``<img src="chart:NAME">``). Before
the page comes each chart's size (its width and height, known before its figure is made),
after it each chart's SVG as it is drawn. The page is styled, laid out and paginated with a
placeholder of each chart's size (an SVG of that width, height and viewBox: all the layout
reads of an image), so that the layout overlaps the charts' making and drawing; each
placeholder is then given its chart's SVG and the pages are drawn (a chart of another size
than announced has the page laid out again with the charts as they came). This module
imports nothing heavy.
"""

from __future__ import annotations

import json
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
Size = tuple[int, int]  # a chart's width and height, in pixels
_PAGE = "page"  # the name of the page's frame
_SIZES = "sizes"  # the name of the frame before it: each chart's [width, height], as JSON
# the root attributes an image's layout reads (SVG.get_intrinsic_size, get_viewbox)
_SIZE_ATTRIBUTES = ("width", "height", "viewBox")


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
               charts: Mapping[str, Callable[[], bytes]] | None = None,
               sizes: Mapping[str, Size] | None = None) -> Future[bytes]:
        """The PDF of the page ``page`` makes (in a thread), with the SVG each of ``charts``
        gives (it may wait for its drawing) where the page names ``chart:NAME``, of the
        (width, height) in pixels of ``sizes``; the page fetches nothing else but data
        URLs."""
        return self._sender.submit(self._lay_out, page, charts or {}, sizes or {})

    def _lay_out(self, page: Callable[[], str], charts: Mapping[str, Callable[[], bytes]],
                 sizes: Mapping[str, Size]) -> bytes:
        self.start()
        process = self._process
        assert process is not None and process.stdin is not None  # started, with a pipe
        stdin = process.stdin
        try:
            _send(stdin, _SIZES, json.dumps(sizes).encode("ascii"))
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
    """The PDF of ``html``, laid out in this process (``charts``: those sent after it, laid
    out as placeholders and drawn once they came)."""
    import weasyprint

    if charts is None:
        return bytes(weasyprint.HTML(string=html, base_url=None).write_pdf())
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=charts.fetcher()
                               ).render(cache=charts.images)
    if not charts.fill():  # a chart not of its announced size: laid out again, as it came
        document = weasyprint.HTML(string=html, base_url=None,
                                   url_fetcher=charts.fetcher()).render()
    return bytes(document.write_pdf())


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
    """The charts that follow the page on ``stream``, of the sizes announced before it:
    each laid out as a placeholder of its size, then given its SVG (:meth:`fill`)."""

    def __init__(self, stream: IO[bytes], sizes: Mapping[str, Size]) -> None:
        self._stream = stream
        self._sizes = sizes
        self.images: dict[str, Any] = {}  # WeasyPrint's images by URL, the placeholders'
        self.missing: list[str] = []
        self.arrived: dict[str, bytes] | None = None  # once filled: the charts as they came

    def placeholder(self, name: str) -> bytes:
        """The chart's placeholder, or its SVG once the charts came."""
        if self.arrived is not None:
            return self.arrived[name]
        if name not in self._sizes:  # WeasyPrint would leave the image out and go on
            self.missing.append(name)
            raise ValueError(f"the chart {name} has no size")
        return _placeholder(*self._sizes[name])

    def fetcher(self) -> Any:
        """WeasyPrint's URL fetcher, with ``chart:NAME`` a placeholder of its size."""
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        charts = self

        class Fetcher(URLFetcher):  # type: ignore[misc]
            def fetch(self, url: str, headers: Any = None) -> Any:
                if not url.startswith(CHART):
                    return super().fetch(url, headers)
                return URLFetcherResponse(url, charts.placeholder(url.removeprefix(CHART)),
                                          {"Content-Type": "image/svg+xml"})

        return Fetcher()

    def fill(self) -> bool:
        """Give each placeholder the layout made its chart's SVG, as the charts come (those
        the page does not name are left for :meth:`drain`); a RenderError if one never
        comes. False if one's size is not the size announced (its place in the layout
        would distort it): the page is then to be laid out again with the charts as they
        came (:meth:`fetcher` now gives them)."""
        waiting = {url.removeprefix(CHART): image for url, image in self.images.items()
                   if url.startswith(CHART) and image is not None}
        arrived: dict[str, bytes] = {}
        while len(arrived) < len(waiting) and (frame := _receive(self._stream)) is not None:
            if frame[0] in waiting:
                arrived[frame[0]] = frame[1]
        self.missing += [name for name in waiting if name not in arrived]
        if self.missing:
            raise RenderError(f"the charts {', '.join(self.missing)} were not sent")
        self.arrived = arrived
        return all([_give_svg(waiting[name], svg, self._sizes[name])
                    for name, svg in arrived.items()])

    def drain(self) -> None:
        """Read what was sent and not asked for, so that the sender does not block."""
        while _receive(self._stream) is not None:
            pass


def _size_attributes(width: int, height: int) -> dict[str, str]:
    return dict(zip(_SIZE_ATTRIBUTES, (str(width), str(height), f"0 0 {width} {height}"),
                    strict=True))


def _placeholder(width: int, height: int) -> bytes:
    """An empty SVG the layout sizes as it would the chart."""
    attributes = "".join(f' {key}="{value}"'
                         for key, value in _size_attributes(width, height).items())
    return f'<svg xmlns="http://www.w3.org/2000/svg"{attributes}/>'.encode("ascii")


def _give_svg(image: Any, svg: bytes, size: Size) -> bool:
    """The placeholder ``image`` (WeasyPrint's SVGImage) made again from ``svg`` by its own
    constructor, with the arguments WeasyPrint made it with: the image is then what it
    would have been had the chart come first, and, of the same size, it lays out the same.
    False, and the image left as it is, if ``svg`` is not of ``size`` (or this WeasyPrint
    makes its images otherwise)."""
    from xml.etree import ElementTree

    from weasyprint.images import SVGImage

    tree = ElementTree.fromstring(svg)
    expected = _size_attributes(*size)
    found = {key: tree.get(key) for key in _SIZE_ATTRIBUTES}
    if found != expected or not isinstance(image, SVGImage):
        return False
    try:  # WeasyPrint 70's own arguments: another version may keep them otherwise
        SVGImage.__init__(image, tree, image._base_url, image._url_fetcher, image._context)
    except (AttributeError, TypeError):
        return False
    return True


def _serve() -> None:
    import weasyprint  # seconds: imported before the page is sent

    # fontconfig's and Pango's first use, a tenth of a second, while the page is awaited
    weasyprint.HTML(string="<p>1,234.50 <b>x</b></p>").render()
    stdin = sys.stdin.buffer
    sizes, page = _receive(stdin), _receive(stdin)
    if sizes is None or page is None:
        return
    if (sizes[0], page[0]) != (_SIZES, _PAGE):
        sys.exit(f"the charts' sizes and the page came as {sizes[0]} and {page[0]}")
    charts = _Charts(stdin, {name: (width, height)
                             for name, (width, height) in json.loads(sizes[1]).items()})
    try:
        pdf = typeset(page[1].decode("utf-8"), charts)
    except RenderError as error:
        sys.exit(str(error))
    charts.drain()
    sys.stdout.buffer.write(pdf)


if __name__ == "__main__":
    _serve()
    sys.stdout.flush()
    sys.stderr.flush()
    # no teardown: freeing WeasyPrint's objects one by one takes about half a second, and
    # the report waits for this process's end (its stdout's end) to take the PDF
    os._exit(0)
