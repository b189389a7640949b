"""The typesetter process lays out the same PDF as the report process would."""

import sys

import pytest
from tests.report.test_report import DEFINITION, con, monitoring  # noqa: F401  (fixtures)
from tests.test_startup import imported_after

from crmreport.errors import RenderError
from crmreport.report import write_report
from crmreport.report.typeset import Typesetter


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
        process = typesetter._process
    assert process.poll() is not None


def test_a_typesetter_that_fails_says_so(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, lays out nothing, exits 1
    with Typesetter() as typesetter, pytest.raises(RenderError, match="could not be laid out"):
        typesetter.submit(lambda: "<p>page</p>").result()
