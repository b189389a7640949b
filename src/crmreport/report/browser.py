"""The chart browser: one headless chromium, driven by kaleido, for everything the report
draws inside a :func:`browser` block. Its own module, light to import, so that the browser
can start before the data (and the libraries the report draws with) is loaded.

Charts are drawn (:func:`draw` returns a future) from an event loop in a thread of its own,
so that the caller goes on meanwhile; kaleido's own sync server blocks its caller.

A tab draws figure after figure on one page: kaleido reloads its page after every figure,
which parses plotly.js again (about 0.2 s a chart, against 0.03 s for the drawing itself).
plotly.js draws each figure in a plot of its own; what the page keeps between figures (its
caches) changes only the order of an SVG element's attributes, which :func:`draw` makes the
same whatever was drawn before.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from crmreport.errors import RenderError

if TYPE_CHECKING:
    import kaleido

FIX = "install chromium (apt-get install -y chromium) or run `crmreport doctor`"
TABS = 1  # a second tab costs its own start (plotly.js compiled again) and draws no faster

# an SVG start tag with its attributes (XMLSerializer writes every value in double quotes)
_START_TAG = re.compile(rb'<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")+)\s*(/?)>')
_ATTRIBUTE = re.compile(rb'[\w:.-]+="[^"]*"')

_open = [0]  # how many browser() blocks are open: the outermost starts and stops it
_running: list[_Browser] = []  # the browser of the outermost block


class _Browser:
    """kaleido with ``tabs`` tabs, opened (and used) on an event loop in its own thread."""

    def __init__(self, tabs: int) -> None:
        self._tabs = tabs
        self._kaleido: Future[kaleido.Kaleido] = Future()
        self._closing = False
        self._started = False
        self.done_early = False

    def start(self) -> None:
        """Open chromium, once; the caller goes on meanwhile."""
        if self._started:
            return
        # Every module the loop's thread uses is imported here, in the caller's thread:
        # modules imported by two threads at once can deadlock (plotly's and narwhals' do).
        try:
            self._page = chart_page()
        except Exception as exc:  # no kaleido, or no plotly.js: said when a chart is drawn
            self._kaleido.set_exception(exc)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        # the loop runs until close, so that a draw sent after a failed start still ends
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(self._tabs), self._loop)
        self._started = True  # last: a Ctrl+C before leaves nothing for close() to wait for

    async def _serve(self, tabs: int) -> None:
        if self._kaleido.done():
            return
        try:
            async with _reusing_pages()(n=tabs, page_generator=self._page) as opened:
                self._kaleido.set_result(opened)
                await self._stop.wait()
        except Exception as exc:  # kaleido surfaces browser trouble as many types
            if not self._kaleido.done():
                self._kaleido.set_exception(exc)

    def draw(self, figure: dict[str, Any], options: dict[str, Any]) -> Future[bytes]:
        if self._closing:
            raise RenderError("a chart was sent to draw after drawing_done()")
        self.start()
        return asyncio.run_coroutine_threadsafe(self._draw(figure, options), self._loop)

    async def _draw(self, figure: dict[str, Any], options: dict[str, Any]) -> bytes:
        opened = await asyncio.wrap_future(self._kaleido)
        if self._stop.is_set():
            raise RenderError("the chart browser closed before this chart was drawn")
        image = bytes(await opened.calc_fig(figure, opts=options))
        return _sorted_attributes(image) if options["format"] == "svg" else image

    def start_closing(self) -> None:
        """Close the browser in the loop's thread, the caller going on; nothing is drawn
        after."""
        self._closing = True
        if self._started:
            self._loop.call_soon_threadsafe(self._stop.set)

    def close(self) -> None:
        self.start_closing()
        if not self._started:
            return
        self._served.result()  # kaleido closed (or never opened)
        # a drawing still queued is cancelled, so that nobody waits for it forever
        asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _cancel_pending() -> None:
    pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _reusing_pages() -> type[kaleido.Kaleido]:
    """kaleido whose tabs go back to drawing without reloading their page, and draw only
    once their page has loaded."""
    import kaleido

    class Reusing(kaleido.Kaleido):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._loaded_tabs: set[int] = set()  # id() of the tabs seen with their page loaded

        async def _get_kaleido_tab(self) -> Any:
            tab = await super()._get_kaleido_tab()
            if id(tab) not in self._loaded_tabs:
                try:  # kaleido's own time limit does not cover taking a tab
                    await asyncio.wait_for(self._loaded(tab), self._timeout)
                except BaseException:
                    await self.tabs_ready.put(tab)  # else the next drawing waits for it forever
                    raise
                self._loaded_tabs.add(id(tab))
            return tab

        async def _loaded(self, tab: Any) -> None:
            """Wait for ``tab``'s page; if kaleido took the blank page for it (its context),
            open the chart page once more."""
            if await _page_loaded(tab) is not None:
                await tab.navigate(self._index)
                if (trouble := await _page_loaded(tab)) is not None:
                    raise RenderError(f"the chart page did not load ({trouble}); run the "
                                      "command again, or `crmreport doctor`")

        async def _return_kaleido_tab(self, tab: Any) -> None:
            await self.tabs_ready.put(tab)

    return Reusing


# resolves with the type of kaleido's drawing object once the page's load event has fired
_LOADED = ("function() { return new Promise(done => document.readyState === 'complete'"
           " ? done(typeof kaleido_scopes)"
           " : addEventListener('load', () => done(typeof kaleido_scopes))); }")


async def _page_loaded(tab: Any) -> str | None:
    """Wait until ``tab`` (a kaleido tab) has loaded its page: None once kaleido's script is
    there, else what went wrong. kaleido takes a page for loaded at the first load event it
    sees, which on a busy machine can be the blank page's that the tab opened with: the
    chart page was then still loading, its script not yet run, and drawing failed with
    "kaleido_scopes is not defined"."""
    reply = await tab.tab.send_command("Runtime.callFunctionOn", params={
        "functionDeclaration": _LOADED, "executionContextId": tab._current_js_id,
        "awaitPromise": True, "returnByValue": True})
    if "error" in reply:  # the context kaleido kept is gone
        return str(reply["error"].get("message", reply["error"]))
    loaded = reply.get("result", {}).get("result", {}).get("value")
    return None if loaded == "object" else f"kaleido_scopes is {loaded}"


def chart_page() -> Any:
    """kaleido's page for drawing, with plotly.js from this machine (see plotly_bundle) and
    without MathJax, which kaleido would otherwise fetch from a CDN at every start: a report
    is drawn offline, and asks nothing of a third party (no chart uses LaTeX)."""
    from kaleido import PageGenerator

    from crmreport.report.plotly_bundle import chart_script

    return PageGenerator(plotly=chart_script().as_uri(), mathjax=False)


@contextmanager
def browser(done_early: bool = False, start: bool = True) -> Iterator[None]:
    """One chart browser for everything drawn inside the block, however deeply nested;
    ``done_early`` (of the outermost block): :func:`drawing_done` may close it before the
    block ends, as nothing is drawn after it. ``start=False`` (of the outermost block):
    chromium is opened by :func:`start_browser` or the first drawing, not now (its start
    takes a core for a few seconds)."""
    if _open[0]:
        _open[0] += 1
        try:
            yield
        finally:
            _open[0] -= 1
        return
    _running.append(_Browser(TABS))
    _running[-1].done_early = done_early
    if start:
        _running[-1].start()
    _open[0] = 1
    try:
        yield
    finally:
        _open[0] = 0
        _running.pop().close()


def start_browser() -> None:
    """Open the chromium of the outermost :func:`browser` block, if it is not yet open."""
    if _running:
        _running[-1].start()


def drawing_done() -> None:
    """Nothing more is drawn: the browser closes meanwhile, not at its block's end (which
    waits for it), if the outermost block was opened with ``done_early=True``."""
    if _running and _running[-1].done_early:
        _running[-1].start_closing()


def draw(figure: dict[str, Any], kind: str, width: int, height: int) -> Future[bytes]:
    """``figure`` (a plotly figure's dict) as an image (svg or png), drawn inside a
    :func:`browser` block that is still open when the future's result is taken."""
    if not _running:
        raise RenderError("charts are drawn inside a browser() block")
    from plotly.io.json import to_json_plotly

    # as plain JSON values: the loop's thread would otherwise encode numpy arrays and dates
    # with plotly's encoder, which imports modules on the way (see _Browser)
    plain = json.loads(to_json_plotly(figure))
    return _running[-1].draw(plain, {"format": kind, "width": width, "height": height,
                                     "scale": 1})


def _sorted_attributes(svg: bytes) -> bytes:
    """``svg`` with every element's attributes in the order of their names."""
    return _START_TAG.sub(lambda tag: b"<%s %s%s>" % (
        tag[1], b" ".join(sorted(_ATTRIBUTE.findall(tag[2]))), tag[3]), svg)


def drawn(image: Future[bytes]) -> bytes:
    """The image a :func:`draw` future gives, or a RenderError saying what to do."""
    try:
        return image.result()
    except (CancelledError, RenderError):
        raise  # the report stopped for another reason, said where it did; or says what to do
    except Exception as exc:  # kaleido surfaces browser trouble as many types
        raise RenderError(f"could not draw the report charts ({exc}); {FIX}") from exc
