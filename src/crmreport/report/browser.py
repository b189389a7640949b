"""The chart browser: one headless chromium, driven by kaleido, for everything the report
draws inside a :func:`browser` block. Its own module, light to import, so that the browser
can start before the data (and the libraries the report draws with) is loaded.

Charts are drawn in several tabs at once (:func:`draw` returns a future), from an event loop
in a thread of its own, so that the caller goes on meanwhile; kaleido's own sync server
draws one figure at a time and blocks its caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from crmreport.errors import RenderError

if TYPE_CHECKING:
    import kaleido

FIX = "install chromium (apt-get install -y chromium) or run `crmreport doctor`"
TABS = 2  # figures drawn at once: one per core (bench/bench_charts.py: more cost CPU)

_open = [0]  # how many browser() blocks are open: the outermost starts and stops it
_running: list[_Browser] = []  # the browser of the outermost block


class _Browser:
    """kaleido with ``tabs`` tabs, opened (and used) on an event loop in its own thread."""

    def __init__(self, tabs: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._kaleido: Future[kaleido.Kaleido] = Future()
        # the loop runs until close, so that a draw sent after a failed start still ends
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(tabs), self._loop)

    async def _serve(self, tabs: int) -> None:
        import kaleido

        try:
            async with kaleido.Kaleido(n=tabs, page_generator=chart_page()) as opened:
                self._kaleido.set_result(opened)
                await self._stop.wait()
        except Exception as exc:  # kaleido surfaces browser trouble as many types
            if not self._kaleido.done():
                self._kaleido.set_exception(exc)

    def draw(self, figure: dict[str, Any], options: dict[str, Any]) -> Future[bytes]:
        return asyncio.run_coroutine_threadsafe(self._draw(figure, options), self._loop)

    async def _draw(self, figure: dict[str, Any], options: dict[str, Any]) -> bytes:
        opened = await asyncio.wrap_future(self._kaleido)
        return bytes(await opened.calc_fig(figure, opts=options))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._served.result()  # kaleido closed (or never opened)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def chart_page() -> Any:
    """kaleido's page for drawing, with plotly.js from the installed plotly and without
    MathJax, which kaleido would otherwise fetch from a CDN at every start: a report is drawn
    offline, and asks nothing of a third party (no chart uses LaTeX)."""
    from kaleido import PageGenerator

    return PageGenerator(mathjax=False)


@contextmanager
def browser() -> Iterator[None]:
    """One chart browser for everything drawn inside the block, however deeply nested."""
    if _open[0]:
        _open[0] += 1
        try:
            yield
        finally:
            _open[0] -= 1
        return
    _running.append(_Browser(TABS))
    _open[0] = 1
    try:
        yield
    finally:
        _open[0] = 0
        _running.pop().close()


def draw(figure: dict[str, Any], kind: str, width: int, height: int) -> Future[bytes]:
    """``figure`` (a plotly figure's dict) as an image (svg or png), drawn inside a
    :func:`browser` block that is still open when the future's result is taken."""
    if not _running:
        raise RenderError("charts are drawn inside a browser() block")
    return _running[-1].draw(figure, {"format": kind, "width": width, "height": height,
                                      "scale": 1})


def drawn(image: Future[bytes]) -> bytes:
    """The image a :func:`draw` future gives, or a RenderError saying what to do."""
    try:
        return image.result()
    except Exception as exc:  # kaleido surfaces browser trouble as many types
        raise RenderError(f"could not draw the report charts ({exc}); {FIX}") from exc
