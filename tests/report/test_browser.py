"""The chart browser draws figures in several tabs at once, as plotly alone would draw them."""

import asyncio
import re
import threading

import kaleido
import plotly.graph_objects as go
import pytest

from crmreport.errors import RenderError
from crmreport.report.browser import (
    TABS,
    _sorted_attributes,
    browser,
    chart_page,
    draw,
    drawing_done,
    drawn,
    start_browser,
)

_UID = re.compile(r"[0-9a-f]{6}")  # plotly.js's random uid, different in every drawing


def _figure(n: int) -> go.Figure:
    return go.Figure(go.Bar(x=["a", "b"], y=[n, n + 1]), layout={"template": "none"})


def test_figures_drawn_at_once_are_those_plotly_draws_one_by_one():
    figures = [_figure(n) for n in range(TABS + 2)]  # more than the tabs: some wait
    with browser():
        drawing = [draw(fig.to_dict(), "svg", 300, 200) for fig in figures]
        svgs = [drawn(future).decode("utf-8") for future in drawing]
    kaleido.start_sync_server()  # plotly's own path, one figure at a time
    try:
        alone = [fig.to_image(format="svg", width=300, height=200).decode("utf-8")
                 for fig in figures]
    finally:
        kaleido.stop_sync_server()
    assert [_UID.sub("", s) for s in svgs] == \
        [_UID.sub("", _sorted_attributes(s.encode()).decode()) for s in alone]
    assert all(re.match(r'<svg [^>]*height="200"[^>]*width="300"', svg) for svg in svgs)
    assert len(set(svgs)) == len(figures)


def test_a_figure_is_drawn_the_same_whatever_the_page_drew_before(monkeypatch):
    reloads = []
    monkeypatch.setattr(kaleido._kaleido_tab._tab._KaleidoTab, "reload",
                        lambda tab: reloads.append(tab))
    legend = go.Figure([go.Bar(x=["a"], y=[1], name="one"), go.Bar(x=["a"], y=[2], name="two")],
                       layout={"template": "none"})
    heat = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]], uid="heat"), layout={"template": "none"})
    with browser():
        first = [drawn(draw(fig.to_dict(), "svg", 300, 200)) for fig in (legend, heat)]
        after_others = [drawn(draw(fig.to_dict(), "svg", 300, 200)) for fig in (heat, legend)]
    assert [_without_uid(s.decode()) for s in first] == \
        [_without_uid(s.decode()) for s in reversed(after_others)]
    assert b"colorbar" in first[1] and b"legend" in first[0]
    assert reloads == []  # the page is kept: kaleido would parse plotly.js again each time


def _without_uid(svg: str) -> str:
    """``svg`` without the random uid plotly.js gives the drawing (in ids and classes)."""
    uid = re.search(r'id="defs-(\w+)"', svg)
    assert uid
    return svg.replace(uid[1], "")


def test_attributes_are_sorted_by_name_and_nothing_else_changes():
    svg = b'<svg><rect y="0" x="1" class="bg"/><text style="a: \'b\'" dy="2">x &lt; y</text></svg>'
    assert _sorted_attributes(svg) == \
        b'<svg><rect class="bg" x="1" y="0"/><text dy="2" style="a: \'b\'">x &lt; y</text></svg>'


def test_drawing_outside_a_browser_block_says_so():
    with pytest.raises(RenderError, match="browser"):
        draw(_figure(1).to_dict(), "svg", 300, 200)


def test_a_browser_that_cannot_start_says_how_to_fix_it(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    with browser(), pytest.raises(RenderError, match="install chromium"):
        drawn(draw(_figure(1).to_dict(), "svg", 300, 200))


def test_the_chart_page_loads_its_scripts_from_this_machine_only():
    sources = re.findall(r'<script src="([^"]+)"', chart_page().generate_index())
    assert len(sources) >= 2  # plotly.js and kaleido's own
    assert all(source.startswith("file:///") for source in sources), sources


def test_a_browser_done_drawing_closes_before_its_block_ends_and_draws_no_more():
    with browser(done_early=True):
        svg = drawn(draw(_figure(1).to_dict(), "svg", 300, 200))
        drawing_done()
        with pytest.raises(RenderError, match="after drawing_done"):
            draw(_figure(2).to_dict(), "svg", 300, 200)
    assert svg.startswith(b"<svg")


def test_a_browser_not_done_early_keeps_drawing_for_every_report_nested_in_it():
    with browser():
        for n in range(2):  # each report's own block says it is done drawing
            with browser(done_early=True):
                svg = drawn(draw(_figure(n).to_dict(), "svg", 300, 200))
                drawing_done()
            assert svg.startswith(b"<svg")


def test_a_drawing_still_queued_when_the_browser_closes_is_cancelled():
    with browser():
        queued = [draw(_figure(n).to_dict(), "svg", 300, 200) for n in range(4)]
    for image in queued:  # drawn before the close, or cancelled: none is left waiting
        assert image.done()


def _chromiums() -> set[int]:
    """The chromium processes among this process's descendants (kaleido's launcher too)."""
    import os
    from contextlib import suppress
    from pathlib import Path
    found, todo = set(), [os.getpid()]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            with suppress(OSError):  # a process that ended meanwhile
                kids = [int(k) for k in (task / "children").read_text().split()]
                todo += kids
                found |= {k for k in kids if b"chrom" in Path(f"/proc/{k}/cmdline").read_bytes()}
    return found


def test_a_browser_not_started_opens_chromium_only_when_asked_or_drawn_in():
    with browser(start=False):
        assert _chromiums() == set()  # nothing opened yet
        start_browser()
        assert drawn(draw(_figure(1).to_dict(), "svg", 300, 200)).startswith(b"<svg")
        assert _chromiums()
    with browser(done_early=True, start=False):  # never started: nothing to close
        drawing_done()
    with browser(start=False):  # the first drawing starts it
        assert drawn(draw(_figure(2).to_dict(), "svg", 300, 200)).startswith(b"<svg")


def _blank_page_load_seen_as_the_charts(monkeypatch, tmp_path) -> None:
    """kaleido as it runs on a busy machine: the load event it waits for is one already
    fired (the blank page's), and the chart page's scripts take a second to run."""
    from kaleido import PageGenerator
    from kaleido._kaleido_tab import _tab

    from crmreport.report.plotly_bundle import chart_script

    slow = tmp_path / "slow.js"
    slow.write_text("const until = Date.now() + 1000; while (Date.now() < until) {}")
    monkeypatch.setattr("crmreport.report.browser.chart_page", lambda: PageGenerator(
        plotly=chart_script().as_uri(), mathjax=False, others=[slow.as_uri()]))
    subscribe = _tab._subscribe_new

    def stale_load(tab, event):
        if event != "Page.loadEventFired":
            return subscribe(tab, event)
        fired = asyncio.get_running_loop().create_future()
        fired.set_result({})
        return fired

    monkeypatch.setattr(_tab, "_subscribe_new", stale_load)


def test_a_chart_waits_for_its_page_when_kaleido_sees_the_blank_pages_load(monkeypatch,
                                                                            tmp_path):
    _blank_page_load_seen_as_the_charts(monkeypatch, tmp_path)
    with browser():
        assert drawn(draw(_figure(1).to_dict(), "svg", 300, 200)).startswith(b"<svg")


def test_without_the_wait_that_chart_is_drawn_before_its_page_has_loaded(monkeypatch,
                                                                         tmp_path):
    _blank_page_load_seen_as_the_charts(monkeypatch, tmp_path)

    async def not_waiting(tab):
        pass

    monkeypatch.setattr("crmreport.report.browser._page_loaded", not_waiting)
    with browser(), pytest.raises(RenderError, match="kaleido_scopes is not defined"):
        drawn(draw(_figure(1).to_dict(), "svg", 300, 200))


def test_a_page_that_never_loads_fails_each_drawing_and_the_browser_still_closes(monkeypatch):
    checks = []

    async def never_loaded(tab):
        checks.append(tab)
        return "kaleido_scopes is undefined"

    monkeypatch.setattr("crmreport.report.browser._page_loaded", never_loaded)
    failures = []

    def run() -> None:
        with browser():
            for n in range(2):  # the tab is back for the second: it fails too, not hangs
                with pytest.raises(RenderError) as failed:
                    draw(_figure(n).to_dict(), "svg", 300, 200).result(timeout=60)
                failures.append(str(failed.value))

    closing = threading.Thread(target=run)
    closing.start()
    closing.join(timeout=120)
    assert not closing.is_alive()
    assert len(failures) == 2 and len(checks) == 4  # each drawing: checked, opened again
    assert all("the chart page did not load (kaleido_scopes is undefined); run the command "
               "again" in failure for failure in failures)


def test_ctrl_c_while_the_browser_starts_leaves_nothing_to_close(monkeypatch):
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("crmreport.report.browser.chart_page", interrupted)
    with pytest.raises(KeyboardInterrupt), browser(start=False):  # not an AttributeError
        start_browser()
    assert _chromiums() == set()
