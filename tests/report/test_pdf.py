"""The PDF's chart SVGs: what WeasyPrint is given to draw."""

from crmreport.report.pdf import _LINES, _lean, _sized_sections, _without_table_gaps, sized_tables


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
    sized = '<p>x</p><table class="sized fixed" style="table-layout: fixed"><colgroup>'
    rest = table.removeprefix('<table class="sized">')
    # by hand, unwrapped: "Offer & coupon" (14 characters) and the heading "Revenue per
    # customer" (20), each 1.5 more for the padding: 15.5/37 and 21.5/37 of the width
    assert sized_tables(f"<p>x</p>{table}") == (
        sized + '<col style="width: 41.89%"><col style="width: 58.11%"></colgroup>' + rest)
    # on a line of 30 characters only wrapped: the first column needs "Offer & coupon"; the
    # second "€1,234.56" (9), more than its heading's longest word "customer" (8):
    # 15.5/26 and 10.5/26
    assert sized_tables(f"<p>x</p>{table}", line=30) == (
        sized + '<col style="width: 59.62%"><col style="width: 40.38%"></colgroup>' + rest)


def test_a_long_text_wraps_and_a_heading_breaks_at_its_tags() -> None:
    table = ('<table class="sized"><tr><th>Rate<br>(control)</th><th>Group</th></tr>'
             '<tr><td>5%</td><td class="l">Customers who bought twice in autumn</td></tr>'
             '<tr class="total"><td>10.0%</td><td class="l">All</td></tr>'
             "</table>")
    # unwrapped: "(control)" 9 and the text 36: 10.5/48 and 37.5/48 (the bold "10.0%",
    # 5.5, is narrower than the heading)
    assert 'width: 21.88%"><col style="width: 78.12%"' in sized_tables(table)
    # on a line of 40 characters wrapped: "Rate (control)"'s longest word is 9; the text cell
    # wraps past 20 characters: 10.5/32 and 21.5/32 of the width
    assert 'width: 32.81%"><col style="width: 67.19%"' in sized_tables(table, line=40)


def test_a_total_row_is_bold_and_a_tenth_wider() -> None:
    table = ('<table class="sized"><tr><td>1</td><td>12345678901234567890</td></tr>'
             '<tr class="total"><td>1</td><td>12345678901234567890</td></tr></table>')
    # by hand: 2 (the least) + 1.5 and 22 + 1.5 of 27
    assert 'width: 12.96%"><col style="width: 87.04%"' in sized_tables(table)


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
