"""PDF to text page by page, within limits and the upload's time budget.

Hand-written around pypdf rather than Haystack's PyPDFToDocument: that converter extracts every page before it
returns, so neither a text limit nor a deadline can stop it midway, and a PDF whose thousand pages share one huge
content stream held the indexing worker for minutes before the limit was even checked. Here each page is
extracted, measured and timed on its own; pages are joined with form feeds, as Haystack's converter does."""

from __future__ import annotations

from io import BytesIO

from haystack import Document, component
from haystack.dataclasses import ByteStream

from assistant.core import deadline


class TextLimit(ValueError):
    """The pages extracted so far already hold more text than allowed."""


@component
class PagedPDFToDocument:
    def __init__(self, max_chars: int = 5_000_000) -> None:
        self.max_chars = max_chars

    @component.output_types(documents=list[Document])
    def run(self, sources: list[ByteStream]) -> dict[str, list[Document]]:
        from pypdf import PdfReader

        documents = []
        for source in sources:
            reader = PdfReader(BytesIO(source.data))
            pages: list[str] = []
            total = 0
            extracted: dict[tuple, str] = {}
            for page in reader.pages:
                deadline.check()
                key = _drawing(page)
                text = extracted.get(key) if key is not None else None
                if text is None:
                    text = page.extract_text() or ""
                    if key is not None:
                        extracted[key] = text
                total += len(text)
                if total > self.max_chars:
                    raise TextLimit(f"more than {self.max_chars:,} characters by page {len(pages) + 1}")
                pages.append(text)
            documents.append(Document(content="\f".join(pages), meta=dict(source.meta)))
        return {"documents": documents}


def _drawing(page) -> tuple | None:
    """What a page draws with, when it is all shared objects: its content stream(s) and resources. Pages that
    share them show the same text, so it is extracted once (a thousand pages over one stream cost one page)."""
    from pypdf.generic import ArrayObject, IndirectObject

    contents = page.raw_get("/Contents") if "/Contents" in page else None
    resources = page.raw_get("/Resources") if "/Resources" in page else None
    refs = list(contents) if isinstance(contents, ArrayObject) else [contents]
    if not refs or not all(isinstance(r, IndirectObject) for r in refs):
        return None
    if isinstance(resources, IndirectObject):
        shared = (resources.idnum, resources.generation)
    else:  # a small dictionary written in each page (fonts by reference): the same text when it reads the same
        shared = repr(resources)
        if len(shared) > 2000:
            return None
    return tuple((r.idnum, r.generation) for r in refs), shared
