"""The report as PDF: the same page rendered for print, charts as inline SVG from kaleido.

The charts are drawn by the one chart browser of the run (report/browser.py); the page is
laid out by WeasyPrint, in the typesetter process when there is one (report/typeset.py).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from crmreport.config.models import Report
from crmreport.files import write_bytes
from crmreport.monitor import Monitoring
from crmreport.monitor.periods import PeriodSummary
from crmreport.report.browser import draw, drawn
from crmreport.report.charts import HEIGHT, chart_heights
from crmreport.report.html import page_context, render

CHART_WIDTH = 900
# plotly.js gives every figure a random uid, used in its clip-path ids.
_UID = re.compile(r'id="defs-([0-9a-z]+)"')
# plotly's groups for the layers a chart does not use: empty, they draw nothing, and
# WeasyPrint's drawing takes its time per node (a quarter of the nodes of the demo's charts)
_EMPTY_GROUP = re.compile(r"<g(?: [^>]*)?/>|<g(?: [^>]*)?></g>")
# plotly's placeholder paths without a "d": they draw nothing, yet are nodes to cascade
_NO_PATH = re.compile(r'<path(?: (?!d=)[\w:.-]+="[^"]*")*/>')
# a start tag with a style attribute (the browser writes every value in double quotes)
_STYLED_TAG = re.compile(r'<([A-Za-z][\w:.-]*)((?: [\w:.-]+="[^"]*")*) style="([^"]*)"'
                         r'((?: [\w:.-]+="[^"]*")*)(/?)>')
_ATTRIBUTE = re.compile(r'([\w:.-]+)="([^"]*)"')
# a declaration "name: value"; a name starting with "-" (a vendor's, or a custom property)
# WeasyPrint's SVG ignores, and as an attribute it would not be well-formed XML
_DECLARATION = re.compile(r"\s*(-?-?[a-z][a-z-]*)\s*:\s*([^:!&']*?(?:'[^'&]*'[^:!&']*?)*)\s*")
# a table whose columns the page sizes (class "sized"): WeasyPrint's automatic table layout
# first measures every cell's narrowest and widest width, 40% of the response section's layout
_SIZED_TABLE = re.compile(r'(<table class="sized">)(.*?</table>)', re.DOTALL)
# the spaces between a table's rows and cells: the layout makes a box of each and drops it
# (a table holds only rows, a row only cells); about 400 on the demo's page
_TABLE_GAP = re.compile(r"(</(?:td|th|tr|thead|tbody|tfoot|colgroup|caption)>"
                        r"|<(?:table|thead|tbody|tfoot|tr|colgroup|col)\b[^>]*>)\s+"
                        r"(?=</?(?:table|thead|tbody|tfoot|tr|td|th|colgroup|col)\b)")
_ROW = re.compile(r"<tr\b.*?</tr>", re.DOTALL)
_CELL = re.compile(r"<(t[hd])\b([^>]*)>(.*?)</\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>")
# a class attribute with the token "total" (a row), "l" (a text cell)
_TOTAL = re.compile(r'\bclass="(?:[^"]* )?total(?: [^"]*)?"')
_TEXT_CELL = re.compile(r'\bclass="(?:[^"]* )?l(?: [^"]*)?"')
# Characters, counted as wide as a digit (DejaVu Sans: 0.64 em), that a table's line holds,
# less 3%: at 6.5 pt on A4 landscape (the response section's page) about 185; at 7 pt (the
# other sections' tables) about 172 on landscape and 117 on portrait. A wider table keeps the
# automatic layout.
_LINE = 180
_LINES = {"landscape": 167, "portrait": 114}
_BOLD = 1.1  # bold (headings, a total row) is about a tenth wider
_PADDING = 1.5  # a cell's padding, in characters
_WRAPS = 20  # a text cell (class "l") longer than this may wrap at its spaces


def pdf_page(
    monitoring: Monitoring, definition: Report, base_dir: Path | None,
    template_dir: Path | None, summary: PeriodSummary | None, sources: Mapping[str, str],
    context: Mapping[str, Any] | None = None,
) -> str:
    """The HTML the PDF is laid out from, each chart's image from ``sources`` (its
    :func:`svg_source` inline, or the typesetter's ``chart:NAME``)."""
    if context is None:
        context = page_context(monitoring, definition, {}, base_dir, summary)
    charts = {name: f'<img class="chart" id="{name}" alt="" src="{source}">'
              for name, source in sources.items()}
    page = render({**context, "charts": charts}, "pdf", template_dir)
    return _without_table_gaps(_sized_sections(page, _LINES[definition.orientation]))


def _sized_sections(page: str, line: float) -> str:
    """:func:`sized_tables` with the line of each table's page and type size (see _LINE):
    the response section's on a landscape page of its own, the others' ``line``. A page
    without ``<section id="response">`` (a user's template) has ``line`` throughout: a
    response table wider than that keeps the automatic layout."""
    start = page.find('<section id="response">')
    end = page.find("</section>", start)
    if start < 0 or end < 0:
        return sized_tables(page, line)
    return (sized_tables(page[:start], line) + sized_tables(page[start:end], _LINE)
            + sized_tables(page[end:], line))


def _without_table_gaps(page: str) -> str:
    return _TABLE_GAP.sub(r"\1", page)


def sized_tables(page: str, line: float = _LINE) -> str:
    """``page`` with each table of class ``sized`` given its columns' widths (a
    ``colgroup``), which the layout then takes as they are (``table-layout: fixed``), if
    they fit on a ``line`` of that many characters."""
    return _SIZED_TABLE.sub(functools.partial(_sized, line=line), page)


def _sized(table: re.Match[str], line: float) -> str:
    widths = _column_widths(table.group(2), line)
    if not widths:  # merged cells, or too wide: the automatic layout
        return table.group(0)
    columns = "".join(f'<col style="width: {width:.2f}%">' for width in widths)
    return ('<table class="sized fixed" style="table-layout: fixed">'
            f"<colgroup>{columns}</colgroup>{table.group(2)}")


def _column_widths(table: str, line: float) -> list[float]:
    """Widths (% of the table's) in proportion to what each column needs on a line: what
    each cell shows unwrapped if the table then fits a ``line`` (as the automatic layout
    would do), else what it needs wrapped (see :func:`_needed`); bold (a heading, a total
    row) a tenth more. None for a table with merged cells, without cells, or wider than a
    line even wrapped, whose columns the automatic layout sizes."""
    wrapped: list[float] = []
    unwrapped: list[float] = []
    for row in _ROW.findall(table):
        cells = _CELL.findall(row)
        if any("colspan" in attributes or "rowspan" in attributes for _, attributes, _ in cells):
            return []
        total_row = _TOTAL.search(row[:row.index(">")]) is not None
        for column, cell in enumerate(cells):
            if column == len(wrapped):
                wrapped.append(2)
                unwrapped.append(2)
            bold = _BOLD if total_row or cell[0] == "th" else 1
            wrapped[column] = max(wrapped[column], bold * _needed(*cell))
            unwrapped[column] = max(unwrapped[column], bold * _longest_line(cell[2]))
    for needed in (unwrapped, wrapped):
        total = sum(needed) + _PADDING * len(needed)
        if needed and total <= line:
            return [100 * (width + _PADDING) / total for width in needed]
    return []


def _longest_line(content: str) -> int:
    """The characters of a cell's longest line, unwrapped (a heading may break at a br)."""
    return max(len(" ".join(html.unescape(_TAG.sub(" ", part)).split()))
               for part in _BREAK.split(content))


def _needed(kind: str, attributes: str, content: str) -> int:
    """The characters a cell needs on one line: a heading its longest word (it wraps at its
    spaces), a text cell its text up to _WRAPS characters or its longest word, a figure all
    of it."""
    text = " ".join(html.unescape(_TAG.sub(" ", content)).split())
    longest = max(map(len, text.split()), default=0)
    if kind == "th":
        return longest
    if _TEXT_CELL.search(attributes):
        return max(longest, min(len(text), _WRAPS))
    return len(text)


def svg_source(svg: bytes) -> str:
    """``svg`` as the data URL of an image."""
    return f"data:image/svg+xml;base64,{base64.b64encode(svg).decode('ascii')}"


def write_pdf_bytes(out_dir: Path, pdf: bytes) -> Path:
    path = out_dir / "report.pdf"
    write_bytes(path, pdf)
    return path


def draw_chart(name: str, figure: go.Figure, into: Future[bytes]) -> None:
    """``figure`` set drawing as SVG in the chart browser (the caller goes on), ``into``
    given the drawing; inside a :func:`~crmreport.report.browser.browser` block."""
    drawing = draw(_named_traces(figure.to_dict(), name), "svg", *chart_size(figure))
    drawing.add_done_callback(functools.partial(_settle, into))


def chart_size(figure: go.Figure) -> tuple[int, int]:
    """The width and height in pixels ``figure`` is drawn at (its SVG's)."""
    return figure.layout.width or CHART_WIDTH, figure.layout.height or HEIGHT


def chart_sizes(monitoring: Monitoring, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """:func:`chart_size` of each chart of ``names``, before the figures are made (see
    :func:`~crmreport.report.charts.chart_heights`; their figures set no width)."""
    return {name: (CHART_WIDTH, height)
            for name, height in chart_heights(monitoring, names).items()}


def _named_traces(figure: dict[str, Any], name: str) -> dict[str, Any]:
    """``figure`` with each trace's uid from the chart's name: plotly.js would make a random
    one, which it writes into ids (a colour bar's)."""
    for number, trace in enumerate(figure.get("data", [])):
        trace.setdefault("uid", f"{name}-{number}")
    return figure


def _settle(target: Future[bytes], done: Future[bytes]) -> None:
    if done.cancelled():
        target.cancel()
        return
    error = done.exception()
    with contextlib.suppress(InvalidStateError):  # cancelled meanwhile: nobody waits for it
        if error is None:
            target.set_result(done.result())
        else:
            target.set_exception(error)


def chart_svg(drawing: Future[bytes], name: str) -> bytes:
    """The drawn chart (waited for) as SVG, with plotly's random uid replaced by the chart's
    name and without empty groups."""
    return _lean(_stable(drawn(drawing).decode("utf-8"), name)).encode("utf-8")


def _stable(svg: str, name: str) -> str:
    match = _UID.search(svg)
    if not match:
        return svg
    # Only where plotly writes the uid: clip/legend/defs ids and gradient ids "g<uid>-...".
    uses = re.compile(r"(clip|legend|defs-|[#\"']g)" + re.escape(match.group(1)))
    return uses.sub(lambda m: m.group(1) + name, svg)


def _lean(svg: str) -> str:
    """``svg`` without paths that draw nothing, empty groups, nor the groups emptied by
    removing them, its style attributes as presentation attributes (unless it has a
    stylesheet: its rules win over attributes but not over a style, so they would then win
    where they did not; plotly writes none)."""
    svg = _NO_PATH.sub("", svg)
    while (leaner := _EMPTY_GROUP.sub("", svg)) != svg:
        svg = leaner
    if "<style" in svg:
        return svg
    return _STYLED_TAG.sub(_presented, svg)


def _presented(tag: re.Match[str]) -> str:
    """The start tag with its style's declarations as attributes (they win over an
    attribute of the same name, as in CSS), in the order of their names: WeasyPrint parses
    a style with a CSS tokenizer, element by element, and takes attributes as they are,
    the style's last; a declaration WeasyPrint ignores (its name starts with "-") goes. A
    style not plainly "name: value; ..." is left as it is."""
    name, before, style, after, closing = tag.groups()
    declarations = [_DECLARATION.fullmatch(part) for part in style.split(";") if part.strip()]
    if not all(declarations):  # an entity, a priority, a colon in a value...
        return tag.group(0)
    attributes = dict(_ATTRIBUTE.findall(before + after))
    attributes.update((match[1], match[2]) for match in declarations
                      if match and not match[1].startswith("-"))
    listed = "".join(f' {key}="{value}"' for key, value in sorted(attributes.items()))
    return f"<{name}{listed}{closing}>"

