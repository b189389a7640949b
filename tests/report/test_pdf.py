"""The PDF's chart SVGs: what WeasyPrint is given to draw."""

from crmreport.report.pdf import _lean


def test_empty_groups_go_and_so_do_the_groups_they_leave_empty():
    svg = ('<svg><g class="a"><g class="b"/></g><g class="c" transform="x"><path d="M0,0"/>'
           '</g><g></g><g class="d"><text>1</text></g></svg>')
    assert _lean(svg) == ('<svg><g class="c" transform="x"><path d="M0,0"/></g>'
                          '<g class="d"><text>1</text></g></svg>')


def test_an_svg_without_empty_groups_is_kept():
    svg = '<svg><g class="x"><rect width="1" height="1"/></g><rect/></svg>'
    assert _lean(svg) == svg
