"""The PDF's chart SVGs: what WeasyPrint is given to draw."""

from crmreport.report.pdf import _lean, sized_tables


def test_empty_groups_go_and_so_do_the_groups_they_leave_empty():
    svg = ('<svg><g class="a"><g class="b"/></g><g class="c" transform="x"><path d="M0,0"/>'
           '</g><g></g><g class="d"><text>1</text></g></svg>')
    assert _lean(svg) == ('<svg><g class="c" transform="x"><path d="M0,0"/></g>'
                          '<g class="d"><text>1</text></g></svg>')


def test_an_svg_without_empty_groups_is_kept():
    svg = '<svg><g class="x"><rect width="1" height="1"/></g><rect/></svg>'
    assert _lean(svg) == svg


def test_a_sized_table_gets_columns_as_wide_as_what_each_must_show() -> None:
    table = ('<table class="sized"><thead><tr><th class="l">By</th>'
             "<th>Revenue per customer</th></tr></thead><tbody>"
             '<tr><td class="l">Offer &amp; <b>coupon</b></td><td>€1,234.56</td></tr>'
             '<tr><td class="l">All</td><td>€7.00</td></tr></tbody></table>')
    # by hand: the first column's longest cell is "Offer & coupon" (14 characters, the
    # heading "By" is shorter); the second's is "€1,234.56" (9), longer than its heading's
    # longest word "customer" (8): 14/23 and 9/23 of the width
    assert sized_tables(f"<p>x</p>{table}") == (
        '<p>x</p><table class="sized" style="table-layout: fixed"><colgroup>'
        '<col style="width: 60.87%"><col style="width: 39.13%"></colgroup>'
        + table.removeprefix('<table class="sized">'))


def test_tables_not_sized_or_with_merged_cells_keep_the_automatic_layout() -> None:
    merged = ('<table class="sized"><tr><th colspan="2">Both</th></tr>'
              "<tr><td>a</td><td>b</td></tr></table>")
    plain = "<table><tr><td>a</td><td>bb</td></tr></table>"
    empty = '<table class="sized"></table>'
    assert sized_tables(merged + plain + empty) == merged + plain + empty
