"""The PDF's page and chart SVGs: what WeasyPrint is given to lay out and draw."""

import dataclasses
import datetime as dt
from typing import Any
from xml.etree import ElementTree

import pandas as pd
from tests.report.test_report import DEFINITION, con, monitoring  # noqa: F401  (fixtures)

from crmreport.config.models import Branding
from crmreport.report.charts import chart_makers
from crmreport.report.format import Formatter, suppress_small
from crmreport.report.html import TEMPLATE_DIR
from crmreport.report.names import with_names
from crmreport.report.pdf import (
    _LINES,
    _lean,
    _sized_sections,
    _without_table_gaps,
    chart_size,
    chart_sizes,
    sized_tables,
)


def test_empty_groups_go_and_so_do_the_groups_they_leave_empty():
    svg = ('<svg><g class="a"><g class="b"/></g><g class="c" transform="x"><path d="M0,0"/>'
           '</g><g></g><g class="d"><text>1</text></g></svg>')
    assert _lean(svg) == ('<svg><g class="c" transform="x"><path d="M0,0"/></g>'
                          '<g class="d"><text>1</text></g></svg>')


def test_an_svg_without_empty_groups_is_kept():
    svg = '<svg><g class="x"><rect width="1" height="1"/></g><rect/></svg>'
    assert _lean(svg) == svg


def test_paths_that_draw_nothing_go_and_so_do_the_groups_they_leave_empty() -> None:
    svg = ('<svg><g class="a"><path class="xlines-below"/></g>'
           '<path class="x" d="M0,0h5"/><path d=""/></svg>')
    assert _lean(svg) == '<svg><path class="x" d="M0,0h5"/><path d=""/></svg>'


def test_styles_become_attributes_in_the_order_of_their_names() -> None:
    svg = ('<svg><text style="font-family: \'DejaVu Sans\', sans-serif; font-size: 12px; '
           'fill: rgb(34, 34, 34);" x="0">1</text><rect fill="red" style="fill: blue"/>'
           '<g style="">x</g></svg>')
    # by hand: the style's value wins over the attribute of the same name
    assert _lean(svg) == ('<svg><text fill="rgb(34, 34, 34)" font-family="\'DejaVu Sans\', '
                          'sans-serif" font-size="12px" x="0">1</text><rect fill="blue"/>'
                          "<g>x</g></svg>")


def test_a_style_not_plainly_names_and_values_is_kept() -> None:
    for style in ("fill: red !important", "fill: url(&quot;#a&quot;)",
                  "background: url(data:image/png;base64,AAA)", "fill red"):
        svg = f'<svg><rect style="{style}" x="1"/></svg>'
        assert _lean(svg) == svg


def test_declarations_weasyprint_ignores_go_and_the_svg_stays_well_formed() -> None:
    svg = ('<svg><rect style="-webkit-tap-highlight-color: rgba(0, 0, 0, 0); --x: 1; '
           'fill: red" x="1"/></svg>')
    # by hand: names starting with "-" are not attributes (WeasyPrint's SVG skips them)
    assert _lean(svg) == '<svg><rect fill="red" x="1"/></svg>'
    ElementTree.fromstring(_lean(svg))


def test_an_svg_with_a_stylesheet_keeps_its_styles() -> None:
    # its rules would win over the styles made attributes
    svg = '<svg><style>rect { fill: blue }</style><rect style="fill: red"/><g/></svg>'
    assert _lean(svg) == '<svg><style>rect { fill: blue }</style><rect style="fill: red"/></svg>'


def test_a_sized_table_gets_columns_as_wide_as_what_each_must_show() -> None:
    table = ('<table class="sized"><thead><tr><th class="l">By</th>'
             "<th>Revenue per customer</th></tr></thead><tbody>"
             '<tr><td class="l">Offer &amp; <b>coupon</b></td><td>€1,234.56</td></tr>'
             '<tr><td class="l">All</td><td>€7.00</td></tr></tbody></table>')
    sized = '<p>x</p><table class="sized fixed" style="table-layout: fixed"><colgroup>'
    rest = table.removeprefix('<table class="sized">')
    # by hand, unwrapped: "Offer & coupon" (14 characters) and the bold heading "Revenue
    # per customer" (20, 22 bold), each 1.5 more for the padding: 15.5/39 and 23.5/39
    assert sized_tables(f"<p>x</p>{table}") == (
        sized + '<col style="width: 39.74%"><col style="width: 60.26%"></colgroup>' + rest)
    # on a line of 30 characters only wrapped: the first column needs "Offer & coupon"; the
    # second "€1,234.56" (9), more than its heading's longest word "customer" (8, 8.8
    # bold): 15.5/26 and 10.5/26
    assert sized_tables(f"<p>x</p>{table}", line=30) == (
        sized + '<col style="width: 59.62%"><col style="width: 40.38%"></colgroup>' + rest)


def test_a_long_text_wraps_and_a_heading_breaks_at_its_tags() -> None:
    table = ('<table class="sized"><tr><th>Rate<br>(control)</th><th>Group</th></tr>'
             '<tr><td>5%</td><td class="l">Customers who bought twice in autumn</td></tr>'
             '<tr class="total"><td>10.0%</td><td class="l">All</td></tr>'
             "</table>")
    # unwrapped: the bold heading's "(control)" 9.9 and the text 36: 11.4/48.9 and
    # 37.5/48.9 (the bold "10.0%", 5.5, is narrower than the heading)
    assert 'width: 23.31%"><col style="width: 76.69%"' in sized_tables(table)
    # on a line of 40 characters wrapped: "Rate (control)"'s longest word is 9.9 bold; the
    # text cell wraps past 20 characters: 11.4/32.9 and 21.5/32.9 of the width
    assert 'width: 34.65%"><col style="width: 65.35%"' in sized_tables(table, line=40)


def test_a_total_row_is_bold_and_a_tenth_wider() -> None:
    table = ('<table class="sized"><tr><td>1</td><td>12345678901234567890</td></tr>'
             '<tr class="total"><td>1</td><td>12345678901234567890</td></tr></table>')
    # by hand: 2 (the least) + 1.5 and 22 + 1.5 of 27
    assert 'width: 12.96%"><col style="width: 87.04%"' in sized_tables(table)
    # the class token, among others, and not a class merely containing it (the subtotal's
    # 20 + 1.5 of 25)
    for row, width in (('<tr class="odd total">', "87.04"), ('<tr class="subtotal">', "86.00")):
        assert f'width: {width}%"' in sized_tables(table.replace('<tr class="total">', row))


def test_tables_not_sized_merged_empty_or_wider_than_a_line_keep_the_automatic_layout(
) -> None:
    merged = ('<table class="sized"><tr><th colspan="2">Both</th></tr>'
              "<tr><td>a</td><td>b</td></tr></table>")
    plain = "<table><tr><td>a</td><td>bb</td></tr></table>"
    empty = '<table class="sized"></table>'
    # a segment id of 64 characters has no space to wrap at: with the other columns the
    # line is too long for fixed widths, and the automatic layout wraps it where it can
    wide = ('<table class="sized"><tr>' + '<td class="l">' + "x" * 64 + "</td>"
            + "<td>[-10,218.00; 49,611.00]</td>" * 5 + "</tr></table>")
    page = merged + plain + empty + wide
    assert sized_tables(page) == page


def test_the_spaces_between_rows_and_cells_go_those_in_cells_stay() -> None:
    page = ('<table class="x">\n<thead><tr><th>a</th>\n<th>b</th></tr></thead>\n<tbody>\n\n'
            "<tr><td> <b>1</b> <i>2</i> </td>\n<td></td></tr>\n</tbody>\n</table>\n"
            '<img src="a"> <img src="b">')
    assert _without_table_gaps(page) == (
        '<table class="x"><thead><tr><th>a</th><th>b</th></tr></thead><tbody>'
        '<tr><td> <b>1</b> <i>2</i> </td><td></td></tr></tbody></table>\n'
        '<img src="a"> <img src="b">')


def test_the_response_section_has_a_landscape_line_the_others_the_reports() -> None:
    # one column needing 120 characters: 121.5 fit the response section's line (180), not
    # a portrait page's (114), where it keeps the automatic layout
    table = '<table class="sized"><tr><td>' + "9" * 120 + "</td></tr></table>"
    page = f'{table}<section id="response">{table}</section>{table}'
    sized = _sized_sections(page, _LINES["portrait"])
    assert sized.count("table-layout: fixed") == 1
    assert sized.index("table-layout: fixed") > sized.index('<section id="response">')
    assert _sized_sections(page, _LINES["landscape"]).count("table-layout: fixed") == 3


def _laid_out_cells(body: str) -> list[Any]:
    """The table cells WeasyPrint lays ``body`` out in, on a portrait page with the PDF's
    stylesheet."""
    import jinja2
    from weasyprint import HTML
    from weasyprint.formatting_structure.boxes import TableCellBox

    style = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR)).get_template(
        "_style.css.j2").render(mode="pdf", orientation="portrait", branding=Branding(name="x"),
                                css_font="'DejaVu Sans'", css_name='"x"')
    pages = HTML(string=f"<html><head>{style}</head><body>{body}</body></html>").render().pages
    return [box for page in pages for box in page._page_box.descendants()
            if isinstance(box, TableCellBox)]


def _lines(cell: Any) -> list[Any]:
    """The text boxes of each line of ``cell``."""
    from weasyprint.formatting_structure.boxes import LineBox, TextBox

    return [[text for text in line.descendants() if isinstance(text, TextBox)]
            for line in cell.descendants() if isinstance(line, LineBox)]


def test_a_word_wider_than_its_sized_column_breaks_rather_than_spill() -> None:
    # capitals are wider than the digits the widths count (0.64 em), a heading is bold; the
    # table is about as wide as the line wrapped, so the columns have little to spare
    table = sized_tables(
        '<table class="sized"><tr><th class="l">Segment</th>'
        "<th>Kundenlebenszeitwertprognosen</th><th>Umsatz</th><th class=\"l\">Notiz</th>"
        '<th>Nr</th></tr><tr><td class="l">STAMMKUNDENRUECKGEWINNUNGHOCHWERTIGMAERZ</td>'
        '<td>12</td><td>1.234,56 €</td><td class="l">Kunden, die zweimal im Herbst kauften'
        "</td><td>1234</td></tr></table>", _LINES["portrait"])
    assert "table-layout: fixed" in table
    cells = _laid_out_cells(table)
    assert len(cells) == 10
    for cell in cells:
        left, right = cell.content_box_x(), cell.content_box_x() + cell.width
        for line in _lines(cell):
            for text in line:
                assert left - 0.01 <= text.position_x
                assert text.position_x + text.width <= right + 0.01, text.text
    # the id breaks, the note wraps at a space
    assert [len(_lines(cell)) for cell in cells[5:]] == [2, 1, 1, 2, 1]


def test_a_sized_tables_figures_stay_on_one_line_its_text_wraps() -> None:
    # two columns narrower than what they show: the figure with a space stays whole
    cells = _laid_out_cells(
        '<table class="sized fixed" style="table-layout: fixed"><colgroup>'
        '<col style="width: 6%"><col style="width: 6%"><col style="width: 88%"></colgroup>'
        '<tr><td>1.234,56 €</td><td class="l">Two words</td><td>x</td></tr></table>')
    assert [len(_lines(cell)) for cell in cells] == [1, 2, 1]


def test_the_charts_sizes_known_before_they_are_made_are_those_they_are_drawn_at(
        monitoring):  # noqa: F811
    # the PDF is laid out with these sizes while the charts are made and drawn
    months = [dt.date(2024, month, 1) for month in range(1, 13)]
    many = pd.DataFrame({"cohort": months, "k": 0, "share": 1.0, "complete": True,
                         "left_censored": False})
    safe = with_names(suppress_small(monitoring, DEFINITION.min_cell_size), {},
                      DEFINITION.language)  # as the report has it
    for cohorts in (safe.cohorts, many):
        charts = dataclasses.replace(safe, cohorts=cohorts)
        makers = chart_makers(charts, DEFINITION.branding, Formatter.for_report(DEFINITION))
        sizes = chart_sizes(charts, makers)
        assert sizes == {name: chart_size(make()) for name, make in makers.items()}
    assert sizes["chart-cohorts"] == (900, 60 + 26 * 12)  # a row per cohort
