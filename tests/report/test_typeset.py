"""The typesetter process lays out the same PDF as the report process would."""

import io
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.report.test_report import DEFINITION, con, monitoring  # noqa: F401  (fixtures)
from tests.test_startup import imported_after

from crmreport.errors import RenderError
from crmreport.report import write_report
from crmreport.report.pdf import svg_source
from crmreport.report.typeset import Typesetter, _Charts, typeset


def test_typesetter_writes_the_same_pdf(monitoring, tmp_path):  # noqa: F811
    here, there = tmp_path / "here", tmp_path / "there"
    paths = write_report(monitoring, DEFINITION, here, formats=("pdf",))
    with Typesetter() as typesetter:
        beside = write_report(monitoring, DEFINITION, there, formats=("html", "pdf"),
                              typesetter=typesetter)
    assert paths == [here / "report.pdf"]
    assert beside == [there / "report.html", there / "report.pdf"]
    assert (there / "report.pdf").read_bytes() == (here / "report.pdf").read_bytes()


def test_typesetter_module_loads_nothing_heavy():
    # it is all a spawned typesetter imports before WeasyPrint
    assert imported_after("import crmreport.report.typeset") == set()


def test_an_unused_typesetter_ends():
    with Typesetter() as typesetter:
        typesetter.start()
        process = typesetter._process
    assert process is not None and process.poll() is not None


def test_a_typesetter_starts_its_process_once_when_asked():
    with Typesetter() as typesetter:
        assert typesetter._process is None
        typesetter.start()
        started = typesetter._process
        typesetter.start()
        assert started is not None and typesetter._process is started
        assert typesetter.submit(lambda: "<p>page</p>").result().startswith(b"%PDF")


def test_a_typesetter_never_started_starts_with_its_page():
    with Typesetter() as typesetter:
        assert typesetter.submit(lambda: "<p>page</p>").result().startswith(b"%PDF")


def test_a_typesetter_that_fails_says_so(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, lays out nothing, exits 1
    with Typesetter() as typesetter, pytest.raises(RenderError, match="could not be laid out"):
        typesetter.submit(lambda: "<p>page</p>").result()


SQUARE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
          b'viewBox="0 0 40 40"><rect width="40" height="40" fill="%s"/></svg>')
WIDE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="80" height="20" viewBox="0 0 80 20">'
        b'<rect width="80" height="20" fill="blue"/></svg>')
PAGE = '<p>charts</p><img src="chart:red"><img src="chart:blue">'
SIZES = {"red": (40, 40), "blue": (80, 20), "green": (40, 40)}


def inline(red: bytes, blue: bytes) -> str:
    """PAGE with the charts in it, as the report's own process lays it out."""
    return PAGE.replace("chart:red", svg_source(red)).replace("chart:blue", svg_source(blue))


def test_charts_sent_after_the_page_are_those_it_names_inline():
    red = SQUARE % b"red"
    unused = SQUARE % b"green" + b" " * 300_000  # more than a pipe holds: read, not waited on
    with Typesetter() as typesetter:  # sent in another order than the page uses them
        pdf = typesetter.submit(lambda: PAGE, {"blue": lambda: WIDE, "green": lambda: unused,
                                               "red": lambda: red}, SIZES).result()
    assert pdf == typeset(inline(red, WIDE))
    assert pdf != typeset(inline(red, SQUARE % b"blue"))


def frame(name: str, data: bytes) -> bytes:
    return b"%s %d\n%s" % (name.encode("ascii"), len(data), data)


def test_the_page_is_laid_out_before_its_charts_come_and_drawn_with_them():
    import weasyprint

    stream = io.BytesIO()
    charts = _Charts(stream, SIZES)  # no chart yet: the layout must not need one
    document = weasyprint.HTML(string=PAGE, url_fetcher=charts.fetcher()).render(
        cache=charts.images)
    laid_out = [(box.width, box.height) for box in _images(document)]
    stream.write(frame("blue", WIDE) + frame("red", SQUARE % b"red"))  # the charts come
    stream.seek(0)
    charts.fill()
    assert laid_out == [(40, 40), (80, 20)]  # the placeholders, of the charts' sizes
    assert document.write_pdf() == typeset(inline(SQUARE % b"red", WIDE))


def _images(document: Any) -> list[Any]:
    """The image boxes of ``document``'s pages, in order."""
    from weasyprint.formatting_structure import boxes

    def walk(box: Any) -> Iterator[Any]:
        if isinstance(box, boxes.InlineReplacedBox):
            yield box
        for child in getattr(box, "children", ()):
            yield from walk(child)

    return [image for page in document.pages for image in walk(page._page_box)]


def test_a_chart_of_another_size_than_announced_is_laid_out_again_as_it_came():
    wrong = {**SIZES, "blue": (40, 40)}  # the WIDE chart announced square: it would be squashed
    red = SQUARE % b"red"
    with Typesetter() as typesetter:
        pdf = typesetter.submit(lambda: PAGE, {"red": lambda: red, "blue": lambda: WIDE},
                                wrong).result()
    assert pdf == typeset(inline(red, WIDE))


def test_a_chart_the_page_names_and_nobody_sends_fails():
    with Typesetter() as typesetter, \
            pytest.raises(RenderError, match=r"could not be laid out.*blue were not sent"):
        typesetter.submit(lambda: PAGE, {"red": lambda: SQUARE % b"red"}, SIZES).result()


def test_a_chart_the_page_names_without_a_size_fails():
    with Typesetter() as typesetter, \
            pytest.raises(RenderError, match=r"could not be laid out.*blue were not sent"):
        typesetter.submit(lambda: PAGE, {"red": lambda: SQUARE % b"red", "blue": lambda: WIDE},
                          {"red": (40, 40)}).result()


def test_a_chart_that_could_not_be_drawn_stops_the_pdf():
    def broken() -> bytes:
        raise RenderError("could not draw the report charts")

    with Typesetter() as typesetter:
        with pytest.raises(RenderError, match="could not draw"):
            typesetter.submit(lambda: PAGE, {"red": broken}).result()
        assert typesetter._process.wait(timeout=10) is not None


def test_a_chart_that_cannot_be_made_stops_the_report_and_its_typesetter(
        monitoring, tmp_path, monkeypatch):  # noqa: F811
    from crmreport.report import charts

    makers = charts.chart_makers

    def one_broken(*args: object) -> dict[str, object]:
        made = makers(*args)  # type: ignore[arg-type]

        def broken() -> object:
            raise ValueError("no figure")

        return {**made, "chart-rates": broken}

    monkeypatch.setattr(charts, "chart_makers", one_broken)
    with Typesetter() as typesetter:
        with pytest.raises(ValueError, match="no figure"):
            write_report(monitoring, DEFINITION, tmp_path, formats=("html", "pdf"),
                         typesetter=typesetter)
        assert typesetter._process is not None and typesetter._process.wait(timeout=30) != 0
    assert not (tmp_path / "report.pdf").exists()


def test_a_failure_after_the_charts_are_made_ends_the_report_without_a_pdf(
        monitoring, tmp_path, monkeypatch):  # noqa: F811
    from crmreport import report
    from crmreport.report import html
    from crmreport.report.browser import browser

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(html, "write_html", broken)
    ended = threading.Event()

    def write() -> None:  # as the pipeline nests it: its typesetter and browser around
        with Typesetter() as typesetter, browser(done_early=True):
            with pytest.raises(OSError, match="disk full"):
                report.write_report(monitoring, DEFINITION, tmp_path, formats=("html", "pdf"),
                                    typesetter=typesetter)
            assert typesetter._process is not None
            assert typesetter._process.wait(timeout=30) != 0  # aborted, not laid out
        ended.set()

    threading.Thread(target=write, daemon=True).start()
    assert ended.wait(timeout=120), "the report hung"
    assert not (tmp_path / "report.pdf").exists()


def test_a_weasyprint_that_makes_its_images_otherwise_lays_the_page_out_again(monkeypatch):
    from weasyprint.images import SVGImage

    made = SVGImage.__init__

    def first_time_only(self: Any, *args: Any) -> None:
        if hasattr(self, "_svg"):  # made again from its own attributes: as if kept otherwise
            raise TypeError("another signature")
        made(self, *args)

    monkeypatch.setattr(SVGImage, "__init__", first_time_only)
    red = SQUARE % b"red"
    stream = io.BytesIO(frame("blue", WIDE) + frame("red", red))
    assert typeset(PAGE, _Charts(stream, SIZES)) == typeset(inline(red, WIDE))
