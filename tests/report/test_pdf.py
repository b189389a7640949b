"""The PDF's chart SVGs: what WeasyPrint is given to draw."""

from crmreport.report.pdf import _lean, _without_table_gaps, sized_tables


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


def test_a_sized_table_gets_columns_as_wide_as_what_each_must_show() -> None:
    table = ('<table class="sized"><thead><tr><th class="l">By</th>'
             "<th>Revenue per customer</th></tr></thead><tbody>"
             '<tr><td class="l">Offer &amp; <b>coupon</b></td><td>€1,234.56</td></tr>'
             '<tr><td class="l">All</td><td>€7.00</td></tr></tbody></table>')
    # by hand: the first column needs "Offer & coupon" (14 characters, its heading "By" is
    # shorter); the second "€1,234.56" (9), more than its heading's longest word "customer"
    # (8); each 1.5 more for the padding: 15.5/26 and 10.5/26 of the width
    assert sized_tables(f"<p>x</p>{table}") == (
        '<p>x</p><table class="sized" style="table-layout: fixed"><colgroup>'
        '<col style="width: 59.62%"><col style="width: 40.38%"></colgroup>'
        + table.removeprefix('<table class="sized">'))


def test_a_long_text_wraps_and_a_heading_breaks_at_its_tags() -> None:
    table = ('<table class="sized"><tr><th>Rate<br>(control)</th><th>Group</th></tr>'
             '<tr><td>5%</td><td class="l">Customers who bought twice in autumn</td></tr>'
             "</table>")
    # "Rate (control)": its longest word is 9; the text cell wraps past 20 characters:
    # 10.5/32 and 21.5/32 of the width
    assert 'width: 32.81%"><col style="width: 67.19%"' in sized_tables(table)


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
