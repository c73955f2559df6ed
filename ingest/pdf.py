"""PDF to text page by page, within limits and the upload's time budget.

Hand-written around pypdf rather than Haystack's PyPDFToDocument: that converter extracts every page before it
returns, so neither a text limit nor a deadline can stop it midway, and a PDF whose thousand pages share one huge
content stream held the indexing worker for minutes before the limit was even checked. Here each page is
extracted, measured and timed on its own; pages are joined with form feeds, as Haystack's converter does.

A page without a text layer (a scanned act, as many municipal resolutions are published) is read by OCR: the page
is rendered by PDFium (pypdfium2) and read by Tesseract in Italian (pytesseract); the document's meta lists the
pages read so (`ocr_pages`)."""

from __future__ import annotations

import re
from functools import lru_cache
from io import BytesIO

from haystack import Document, component
from haystack.dataclasses import ByteStream

from assistant.core import deadline


class TextLimit(ValueError):
    """The pages extracted so far already hold more text than allowed."""


class OcrUnavailable(RuntimeError):
    """A page needs OCR and Tesseract (or its Italian data) is not installed."""


OCR_MIN_CHARS = 20  # a page with fewer visible characters than this has no usable text layer
OCR_DPI = 300  # Tesseract reads typed text best at about 300 dpi
OCR_LANG = "ita"


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
            ocr_pages: list[int] = []
            for number, page in enumerate(reader.pages, 1):
                deadline.check()
                key = _drawing(page)
                text = extracted.get(key) if key is not None else None
                if text is None:
                    text = page.extract_text() or ""
                    if len(re.sub(r"\s", "", text)) < OCR_MIN_CHARS and _has_images(page):
                        text = ocr_page(source.data, number - 1)
                        ocr_pages.append(number)
                    if key is not None:
                        extracted[key] = text
                total += len(text)
                if total > self.max_chars:
                    raise TextLimit(f"more than {self.max_chars:,} characters by page {len(pages) + 1}")
                pages.append(text)
            meta = {**source.meta, **({"ocr_pages": ocr_pages} if ocr_pages else {})}
            documents.append(Document(content="\f".join(pages), meta=meta))
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


def _has_images(page) -> bool:
    """Whether the page draws an image (a scan), directly or inside a form: only those are worth OCR."""
    def images_in(resources, depth: int = 0) -> bool:
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is None or depth > 3:
            return False
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                return True
            if obj.get("/Subtype") == "/Form" and images_in(obj.get("/Resources"), depth + 1):
                return True
        return False

    try:
        return images_in(page.get("/Resources"))
    except Exception:  # noqa: BLE001 - a malformed resource dictionary: treat the page as text
        return False


@lru_cache(maxsize=1)
def _tesseract_languages() -> frozenset[str]:
    """Asked of the tesseract binary once per process (a subprocess); a failure is not cached: installing
    Tesseract later works without a restart."""
    import pytesseract

    return frozenset(pytesseract.get_languages(config=""))


def ocr_available() -> bool:
    """Tesseract with its Italian data is installed."""
    try:
        return OCR_LANG in _tesseract_languages()
    except Exception:  # noqa: BLE001 - not installed, not runnable: the same for the user
        return False


def ocr_page(data: bytes, index: int) -> str:
    """The text of page `index` (from 0) read by Tesseract in Italian from a 300 dpi rendering."""
    if not ocr_available():
        raise OcrUnavailable("page needs OCR: install Tesseract with Italian data (tesseract-ocr-ita)")
    import pypdfium2
    import pytesseract

    pdf = pypdfium2.PdfDocument(data)
    try:
        image = pdf[index].render(scale=OCR_DPI / 72).to_pil()
    finally:
        pdf.close()
    return pytesseract.image_to_string(image, lang=OCR_LANG)
