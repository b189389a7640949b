"""Golden files for what the demo renders: one email, one letter, each report section.

To accept a change in rendered content, rewrite the files under tests/golden/ and review
their diff in git:  CRMREPORT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_pipeline_golden.py
"""

from __future__ import annotations

import difflib
import email
import email.policy
import os
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from crmreport.pipeline import DemoResult

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("CRMREPORT_UPDATE_GOLDEN") == "1"
CUSTOMER = "C000015"  # in the 1,500-customer demo: a win-back email with a coupon code
SECTIONS = ["summary", "response", "retention", "segments", "clv", "data_quality"]


def check_golden(name: str, actual: str) -> None:
    """Compare with tests/golden/<name>, or rewrite it when updating."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with CRMREPORT_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(expected.splitlines(keepends=True),
                                    actual.splitlines(keepends=True),
                                    f"golden/{name}", "rendered now")
        pytest.fail("rendered content differs from its golden file "
                    "(CRMREPORT_UPDATE_GOLDEN=1 accepts it):\n" + "".join(diff), pytrace=False)


def normalise(text: str, out: Path) -> str:
    """Drop what changes between runs and machines: the output folder, trailing blanks."""
    text = text.replace(str(out), "<out>").replace("\r\n", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n") + "\n"


class _SectionText(HTMLParser):
    """Visible text per <section id>: a line per block, ' | ' between table cells."""

    BLOCKS = frozenset({"section", "h1", "h2", "h3", "p", "div", "tr", "li", "ul", "table",
                        "thead", "tbody", "dl", "dt", "dd", "caption", "br", "figcaption"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self.current: list[str] | None = None
        self.depth = 0  # <section> nesting, to know where the current one ends
        self.hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.current = self.sections.setdefault(dict(attrs).get("id") or "", [])
        self._separate(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden -= 1
        if tag in self.BLOCKS:
            self._separate(tag)
        if tag == "section":
            self.depth -= 1
            if self.depth == 0:
                self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None and not self.hidden:
            self.current.append(re.sub(r"\s+", " ", data))

    def _separate(self, tag: str) -> None:
        if self.current is not None:
            self.current.append("\n" if tag in self.BLOCKS else " | " if tag in ("td", "th")
                                else "")

    def text(self, section: str) -> str:
        lines = "".join(self.sections[section]).split("\n")
        tidy = (re.sub(r"\s+", " ", line).strip(" |") for line in lines)
        return "\n".join(line for line in tidy if line) + "\n"


def _email(demo_run: DemoResult) -> EmailMessage:
    path = demo_run.build.out_dir / "emails" / f"{CUSTOMER}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"{CUSTOMER}.eml has no text/{subtype} part"
    return str(part.get_content())


def test_email_text_part(demo_run: DemoResult) -> None:
    message = _email(demo_run)
    text = f"Subject: {message['Subject']}\n\n{_part(message, 'plain')}"
    check_golden(f"email_{CUSTOMER}.txt", normalise(text, demo_run.data_dir.parent))


def test_email_html_part(demo_run: DemoResult) -> None:
    html = _part(_email(demo_run), "html")
    check_golden(f"email_{CUSTOMER}.html", normalise(html, demo_run.data_dir.parent))


def test_first_letter_text(demo_run: DemoResult) -> None:
    page = PdfReader(demo_run.build.out_dir / "letters.pdf").pages[0]
    check_golden("letter_page1.txt", normalise(page.extract_text(), demo_run.data_dir.parent))


@pytest.mark.parametrize("section", SECTIONS)
def test_report_section_text(demo_run: DemoResult, section: str) -> None:
    out = demo_run.data_dir.parent
    parser = _SectionText()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    assert sorted(parser.sections) == sorted(SECTIONS)
    check_golden(f"report_{section}.txt", normalise(parser.text(section), out))
