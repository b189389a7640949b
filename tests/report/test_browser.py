"""The chart browser draws figures in several tabs at once, as plotly alone would draw them."""

import re

import kaleido
import plotly.graph_objects as go
import pytest

from crmreport.errors import RenderError
from crmreport.report.browser import TABS, browser, chart_page, draw, drawn

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
    assert [_UID.sub("", s) for s in svgs] == [_UID.sub("", s) for s in alone]
    assert all('width="300" height="200"' in svg for svg in svgs)
    assert len(set(svgs)) == len(figures)


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
