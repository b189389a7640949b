"""PDF files concatenated page by page straight to disk, in memory that does not grow with
the page count.

pypdf's PdfWriter holds every object of the document until it writes the file (about 17 KB
a letter, so 850 MB for 50,000 letters). Here each input file's objects are renumbered and
written out as soon as they are read, one input at a time; what stays in memory is the
byte offset of each object (for the cross-reference table) and a reference per page (for
the page tree), a few bytes each. pypdf still parses the inputs and serialises the objects.

Same inputs, same bytes: the file /ID is a hash of the content.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from crmreport.files import atomic_file

if TYPE_CHECKING:
    from pypdf import PdfReader
    from pypdf.generic import IndirectObject, PdfObject

PRODUCER = "crmreport"


def concatenate(parts: Iterable[Path], out_path: Path) -> int:
    """Write the pages of ``parts``, in order, as one PDF at ``out_path`` (atomically);
    return the page count."""
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    with atomic_file(out_path, "wb") as handle:
        out = _Output(handle)
        tree = out.reserve()  # the page tree is written last, when its kids are known
        kids = array("q")  # object numbers: 8 bytes a page
        for part in parts:
            kids.extend(page.idnum for page in out.copy_pages(PdfReader(part), tree))
        out.write_chunks(tree, itertools.chain(
            [b"<< /Type /Pages /Count %d /Kids [" % len(kids)],
            (b"%d 0 R\n" % kid for kid in kids), [b"] >>"]))
        catalog = out.add(DictionaryObject({
            NameObject("/Type"): NameObject("/Catalog"), NameObject("/Pages"): tree}))
        info = out.add(DictionaryObject({
            NameObject("/Producer"): TextStringObject(PRODUCER)}))
        out.finish(catalog, info)
    return len(kids)


class _Output:
    """A PDF file being written object by object."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.offsets = array("q", [0])  # object number -> byte offset; 0 is the free head
        self.position = 0
        self.digest = hashlib.sha256()
        self._put(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    def _put(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.position += len(data)

    def reserve(self) -> IndirectObject:
        """A new object number, its object to be written later."""
        from pypdf.generic import IndirectObject

        self.offsets.append(-1)
        return IndirectObject(len(self.offsets) - 1, 0, None)

    def write(self, ref: IndirectObject, obj: PdfObject) -> None:
        body = io.BytesIO()
        obj.write_to_stream(body)
        self.write_chunks(ref, [body.getvalue()])

    def write_chunks(self, ref: IndirectObject, body: Iterable[bytes]) -> None:
        self.offsets[ref.idnum] = self.position
        self._put(b"%d 0 obj\n" % ref.idnum)
        for chunk in body:
            self._put(chunk)
        self._put(b"\nendobj\n")

    def add(self, obj: PdfObject) -> IndirectObject:
        ref = self.reserve()
        self.write(ref, obj)
        return ref

    def copy_pages(self, reader: PdfReader, tree: IndirectObject) -> list[IndirectObject]:
        """Copy the reader's pages and every object they use; the pages' parent becomes
        ``tree``. Objects shared by pages (fonts) are copied once."""
        numbers: dict[int, IndirectObject] = {}  # the reader's object number -> ours
        pages = [page.indirect_reference for page in reader.pages]
        for page in reader.pages:  # pages may point to one another (links), and to parents
            numbers[page.indirect_reference.idnum] = self.reserve()  # type: ignore[union-attr]
            numbers[page.raw_get("/Parent").idnum] = tree
        waiting: list[Any] = list(pages)
        while waiting:
            source = waiting.pop()
            self.write(numbers[source.idnum],
                       _renumbered(reader.get_object(source), numbers, waiting, self))
        return [numbers[page.idnum] for page in pages]  # type: ignore[union-attr]

    def finish(self, catalog: IndirectObject, info: IndirectObject) -> None:
        from pypdf.generic import ArrayObject, ByteStringObject

        xref = self.position
        identity = ByteStringObject(self.digest.digest()[:16])
        ids = io.BytesIO()
        ArrayObject([identity, identity]).write_to_stream(ids)
        self._put(b"xref\n0 %d\n0000000000 65535 f \n" % len(self.offsets))
        for offset in self.offsets[1:]:
            self._put(b"%010d 00000 n \n" % offset)
        self._put(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID %s >>\n"
                  b"startxref\n%d\n%%%%EOF\n" % (len(self.offsets), catalog.idnum,
                                                   info.idnum, ids.getvalue(), xref))


def _renumbered(obj: Any, numbers: dict[int, IndirectObject], waiting: list[Any],
                out: _Output) -> Any:
    """``obj`` with its references to the reader's objects turned into ours; an object met
    for the first time gets a number and waits to be copied."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

    if isinstance(obj, IndirectObject):
        if obj.idnum not in numbers:
            numbers[obj.idnum] = out.reserve()
            waiting.append(obj)
        return numbers[obj.idnum]
    if isinstance(obj, StreamObject):
        stream = StreamObject()
        stream._data = obj._data  # as stored (still compressed); it writes its own /Length
        stream.update((key, _renumbered(value, numbers, waiting, out))
                      for key, value in obj.items() if key != "/Length")
        return stream
    if isinstance(obj, DictionaryObject):
        return DictionaryObject((key, _renumbered(value, numbers, waiting, out))
                                for key, value in obj.items())
    if isinstance(obj, ArrayObject):
        return ArrayObject(_renumbered(value, numbers, waiting, out) for value in obj)
    return obj
