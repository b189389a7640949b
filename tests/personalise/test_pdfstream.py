"""concatenate: the inputs' pages in order, in one valid PDF, same bytes for same inputs."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import IndirectObject

from crmreport.personalise.pdfstream import concatenate


def _blank_pages(path: Path, widths: list[int]) -> Path:
    writer = PdfWriter()
    for width in widths:
        writer.add_blank_page(width=width, height=300)
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def _text_pages(path: Path, texts: list[str]) -> Path:
    from weasyprint import HTML

    body = "".join(f'<p style="break-before: page">{text}</p>' for text in texts)
    HTML(string=f"<html><body>{body}</body></html>").write_pdf(path)
    return path


def test_pages_follow_in_input_order(tmp_path: Path) -> None:
    parts = [_blank_pages(tmp_path / "a.pdf", [101, 102]), _blank_pages(tmp_path / "b.pdf", [103]),
             _blank_pages(tmp_path / "c.pdf", [104, 105, 106])]
    assert concatenate(parts, tmp_path / "out.pdf") == 6
    reader = PdfReader(tmp_path / "out.pdf", strict=True)  # strict: a bad xref would raise
    assert [int(page.mediabox.width) for page in reader.pages] == [101, 102, 103, 104, 105, 106]
    assert reader.trailer["/Root"]["/Pages"]["/Count"] == 6
    assert reader.metadata is not None and reader.metadata.producer == "crmreport"


def test_text_and_shared_fonts_survive_the_copy(tmp_path: Path) -> None:
    parts = [_text_pages(tmp_path / "a.pdf", ["alpha", "beta"]),
             _text_pages(tmp_path / "b.pdf", ["gamma"])]
    concatenate(parts, tmp_path / "out.pdf")
    reader = PdfReader(tmp_path / "out.pdf", strict=True)
    assert [page.extract_text().strip() for page in reader.pages] == ["alpha", "beta", "gamma"]
    resources = [page.raw_get("/Resources") for page in reader.pages]
    assert all(isinstance(ref, IndirectObject) for ref in resources)
    idnums = [ref.idnum for ref in resources]
    assert idnums[0] == idnums[1] != idnums[2]


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    parts = [_blank_pages(tmp_path / "a.pdf", [100, 200])]
    concatenate(parts, tmp_path / "one.pdf")
    concatenate(parts, tmp_path / "two.pdf")
    assert (tmp_path / "one.pdf").read_bytes() == (tmp_path / "two.pdf").read_bytes()


def test_no_inputs_give_an_empty_document(tmp_path: Path) -> None:
    assert concatenate([], tmp_path / "out.pdf") == 0
    assert len(PdfReader(tmp_path / "out.pdf", strict=True).pages) == 0
