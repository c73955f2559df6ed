"""File loading with Haystack's converters, plus the checks that make bad input a clear one-line error."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from haystack import Document
from haystack.dataclasses import ByteStream

from assistant.core.deadline import TimeUp
from assistant.core.text import CONTROL_CHARS

from .pdf import OcrUnavailable, TextLimit
from .structure import html_fields

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
             ".pdf": "pdf", ".docx": "docx"}


class LoadError(ValueError):
    """A file that cannot be turned into text; the message says why, in one line (English, for logs and the
    CLI); `italian` says it to the people who uploaded the file."""

    def __init__(self, message: str, italian: str | None = None) -> None:
        super().__init__(message)
        self.italian = italian or "il file non è leggibile"


class TooLarge(LoadError):
    """A file that would expand past a limit (a decompression bomb, a huge document)."""


class Unsupported(LoadError):
    """A file of a type that is not indexed (.xlsx, an image, an archive)."""


_TYPES = {"application/pdf": ".pdf", "text/html": ".html", "text/markdown": ".md", "text/plain": ".txt",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx"}


def with_kind(filename: str, data: bytes, content_type: str | None = None) -> str:
    """The file name with the extension its content calls for, when it has none ("file", "Relazione"): a PDF or
    .docx by its signature, else the type the client declared, else HTML or plain text if it reads as text.
    A name that has an extension keeps it (a wrong one is refused later, with the reason)."""
    if Path(filename).suffix:
        return filename
    if data.startswith(b"%PDF-"):
        return filename + ".pdf"
    if data.startswith(b"PK\x03\x04"):
        return filename + (".docx" if b"word/document.xml" in data[:65536] else ".zip")
    declared = _TYPES.get((content_type or "").split(";")[0].strip().lower())
    if declared:
        return filename + declared
    try:
        text = decode_text(data[:65536])
    except LoadError:
        return filename
    head = text.lstrip()[:200].lower()
    return filename + (".html" if head.startswith(("<!doctype html", "<html")) else ".txt")


@dataclass(frozen=True)
class Limits:
    """What one file may expand to; defaults match Settings."""

    max_uncompressed_bytes: int = 60 * 1024 * 1024
    max_zip_members: int = 2_000
    max_xml_elements: int = 1_000_000
    max_pdf_pages: int = 1_000
    max_chars: int = 5_000_000


# Binary formats that arrive with a text extension ("report.txt" that is really a PDF).
_MAGIC = [(b"%PDF-", "PDF"), (b"PK\x03\x04", "ZIP/DOCX"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"),
          (b"\xff\xd8\xff", "JPEG"), (b"\xd0\xcf\x11\xe0", "Office (OLE)"), (b"\x7fELF", "ELF")]


@dataclass
class Loaded:
    text: str
    kind: str
    ocr_pages: list[int] = field(default_factory=list)  # a PDF's pages read by OCR (no text layer)
    pages: list[str] = field(default_factory=list)  # a PDF's pages as extracted (to place passages on them)


def doc_id_for(path: Path) -> str:
    return path.stem


def safe_doc_id(filename: str) -> str:
    """An uploaded file's document id: its stem with only letters, digits, '.', '_' and '-' ("Relazione
    finale.pdf" → "Relazione_finale"); no path parts, no leading dot, no invisible or direction-changing
    characters. Raises LoadError when nothing usable is left."""
    import unicodedata

    stem = Path(unicodedata.normalize("NFKC", filename).replace("\\", "/")).stem
    out = "".join(c if (c.isalnum() or c in "._-") else "_" for c in stem
                  if unicodedata.category(c) not in ("Cf", "Cc", "Co", "Cs"))
    out = re.sub(r"_+", "_", out).strip("._-")[:100]
    if not out:
        raise LoadError(f"the file name '{filename}' gives no usable document id",
                        "dal nome del file non si ricava un identificativo: rinominalo")
    return out


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def decode_text(data: bytes) -> str:
    """UTF-16 with a BOM, UTF-8 if valid, else Windows-1252/Latin-1 (what Italian public sites often serve);
    binary content is refused, control characters (NUL…) are dropped."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise LoadError(f"the content is {kind}, not text: give the file its real extension",
                            f"il contenuto è {kind}, non testo: dai al file la sua vera estensione")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return CONTROL_CHARS.sub("", data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise LoadError("invalid UTF-16 text", "testo UTF-16 non valido") from exc
    head = data[:8192]
    controls = sum(head.count(bytes([c])) for c in (*range(0, 9), 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                                                    24, 25, 26, 27, 28, 29, 30, 31))
    if controls > 0.05 * len(head):  # a stray NUL in a text is dropped; many control bytes mean binary
        raise LoadError("binary content, not text", "contenuto binario, non testo")
    try:
        return CONTROL_CHARS.sub("", data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined: plain Latin-1 maps every byte
        text = data.decode("latin-1")
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    if printable < 0.95 * len(text):
        raise LoadError("binary content, not text", "contenuto binario, non testo")
    return CONTROL_CHARS.sub("", text)


def check_docx(data: bytes, limits: Limits) -> None:
    """Refuse a .docx (a zip) that expands past the limits, before any XML parser sees it. Members are read,
    not trusted by their declared sizes; elements are counted as tags in the stream."""
    import zipfile
    from io import BytesIO

    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise LoadError("not a valid .docx (zip) file", "non è un file .docx valido") from exc
    members = archive.infolist()
    if len(members) > limits.max_zip_members:
        raise TooLarge(f"the .docx holds {len(members)} parts (limit {limits.max_zip_members})",
                       f"il .docx contiene {len(members)} parti (massimo {limits.max_zip_members})")
    total = tags = 0
    try:
        for info in members:
            with archive.open(info) as part:
                while chunk := part.read(1 << 20):
                    total += len(chunk)
                    if info.filename.endswith(".xml"):
                        tags += chunk.count(b"<")
                    if total > limits.max_uncompressed_bytes:
                        raise TooLarge(f"the .docx expands to more than {limits.max_uncompressed_bytes >> 20} MB",
                                       f"il .docx estratto supera {limits.max_uncompressed_bytes >> 20} MB")
                    if tags > limits.max_xml_elements:
                        raise TooLarge(f"the .docx holds more than {limits.max_xml_elements:,} XML elements",
                                       f"il .docx contiene più di {limits.max_xml_elements:,} elementi XML")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise LoadError(f"damaged .docx: {exc}", "il file .docx è danneggiato") from exc


def check_pdf(data: bytes, limits: Limits) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    try:
        pages = len(PdfReader(BytesIO(data)).pages)
    except Exception as exc:  # noqa: BLE001 - any parser failure is this file's failure
        raise LoadError(f"cannot read pdf: {_short(str(exc))}", "il PDF non è leggibile") from exc
    if pages > limits.max_pdf_pages:
        raise TooLarge(f"the PDF has {pages} pages (limit {limits.max_pdf_pages})",
                       f"il PDF ha {pages} pagine (massimo {limits.max_pdf_pages})")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _converter(kind: str, limits: Limits | None = None):
    # Imported on first use: converters pull in trafilatura, pypdf and docx, which an unchanged re-run never needs.
    from haystack.components.converters import DOCXToDocument, HTMLToDocument, MarkdownToDocument, TextFileToDocument

    from .pdf import PagedPDFToDocument

    # Text and HTML reach the converters already decoded to UTF-8 (see decode_text), whatever they declared.
    return {
        "text": lambda: TextFileToDocument(encoding="utf-8"),
        "markdown": MarkdownToDocument,
        "html": lambda: HTMLToDocument(encoding="utf-8"),
        "pdf": lambda: PagedPDFToDocument((limits or Limits()).max_chars),
        "docx": lambda: DOCXToDocument(table_format="markdown"),  # rows keep their headers (structure.py)
    }[kind]()


def precheck(data: bytes, name: str, limits: Limits | None = None) -> None:
    """The quick refusals, before any conversion: empty files, binary content under a text extension, a .docx
    that expands past the limits, a PDF with too many pages."""
    limits = limits or Limits()
    kind = SUPPORTED.get(Path(name).suffix.lower())
    if kind is None:
        raise Unsupported(f"unsupported file type '{Path(name).suffix or name}' (supported: "
                          f"{', '.join(sorted(SUPPORTED))})",
                          f"tipo di file non supportato: '{Path(name).suffix or name}' (formati accettati: "
                          f"{', '.join(sorted(SUPPORTED))})")
    if not data.strip():
        raise LoadError("empty file", "il file è vuoto")
    if kind in ("text", "markdown", "html"):
        text = decode_text(data)
        if kind == "html" and text.count("<") > limits.max_xml_elements:
            raise TooLarge(f"the page holds more than {limits.max_xml_elements:,} HTML elements",
                           f"la pagina contiene più di {limits.max_xml_elements:,} elementi HTML")
    elif kind == "docx":
        check_docx(data, limits)
    else:
        check_pdf(data, limits)


def load_bytes(data: bytes, name: str, limits: Limits | None = None) -> Loaded:
    """Convert one file's bytes to text with the Haystack converter for its extension, within `limits`."""
    limits = limits or Limits()
    suffix = Path(name).suffix.lower()
    kind = SUPPORTED.get(suffix)
    if kind is None:
        raise Unsupported(f"unsupported file type '{suffix or name}' (supported: {', '.join(sorted(SUPPORTED))})",
                          "tipo di file non supportato")
    if not data.strip():
        raise LoadError("empty file", "il file è vuoto")
    meta = {"file_path": name}
    if kind in ("text", "markdown"):
        text = decode_text(data)
        source = ByteStream(data=text.encode("utf-8"), meta={**meta, "encoding": "utf-8"})
    elif kind == "html":
        page = decode_text(data)
        if page.count("<") > limits.max_xml_elements:
            raise TooLarge(f"the page holds more than {limits.max_xml_elements:,} HTML elements",
                           f"la pagina contiene più di {limits.max_xml_elements:,} elementi HTML")
        source = ByteStream(data=html_fields(page).encode("utf-8"), meta=meta)
    else:
        (check_docx if kind == "docx" else check_pdf)(data, limits)
        source = ByteStream(data=data, meta=meta)
    capture = _Capture()
    root = logging.getLogger("haystack")
    root.addHandler(capture)
    try:
        docs: list[Document] = _converter(kind, limits).run(sources=[source])["documents"]
    except TextLimit as exc:
        raise TooLarge(f"the text is longer than {limits.max_chars:,} characters ({exc})",
                       f"il testo supera {limits.max_chars:,} caratteri") from exc
    except OcrUnavailable as exc:
        raise LoadError(f"cannot read pdf: {exc}",
                        "il PDF è una scansione senza testo: per leggerlo serve Tesseract con i dati per "
                        "l'italiano (su Debian: apt-get install tesseract-ocr tesseract-ocr-ita)") from exc
    except TimeUp:
        raise
    except Exception as exc:  # noqa: BLE001 - a converter crash is this file's failure, not the run's
        raise LoadError(f"cannot read {kind}: {exc}", f"il file {kind} non è leggibile") from exc
    finally:
        root.removeHandler(capture)
    text = "\n".join(d.content or "" for d in docs).strip()
    if kind == "pdf":
        text = unwrap_lines(text)
    if not docs:
        reason = capture.messages[-1] if capture.messages else "converter produced nothing"
        raise LoadError(f"cannot read {kind}: {_short(reason)}", f"il file {kind} non è leggibile")
    if not text:
        raise LoadError("no text found in the file" if kind != "pdf" else "no text layer in the PDF (scanned?)",
                        "nel file non c'è testo" if kind != "pdf" else "il PDF non ha testo (è una scansione?)")
    if len(text) > limits.max_chars:
        raise TooLarge(f"the text is longer than {limits.max_chars:,} characters",
                       f"il testo supera {limits.max_chars:,} caratteri")
    ocr_pages = sorted({n for d in docs for n in d.meta.get("ocr_pages") or []})
    pages = [p for d in docs for p in (d.content or "").split("\f")] if kind == "pdf" else []
    return Loaded(text=CONTROL_CHARS.sub("", text), kind=kind, ocr_pages=ocr_pages, pages=pages)


_LINE_END = (".", ";", ":", "!", "?")
_HEADING_START = re.compile(r"^(?:[Aa]rt(?:icolo|\.)\s*\d+|\d+(?:\.\d+)*[.)]\s|[A-ZÀ-Ý][A-ZÀ-Ý '’]+$)")


# "Data Fine:", "OGGETTO: …": a field's label starts its own line.
_LABEL_START = re.compile(r"^[^\s:]+(?: [^\s:]+){0,3}:(?:\s|$)")
_DANGLING = frozenset("il lo la i gli le l un uno una di a ad da in con su per tra fra e ed o che del dello della dei "
                      "degli delle al allo alla ai agli alle dal dalla nel nello nella nei negli nelle sul sulla "
                      "col quale cui".split())


def _is_caps(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) > 3 and all(c.isupper() for c in letters)


def _dangling(line: str) -> bool:
    """A line ending in a word no sentence ends with ("… con il progetto", "… formazione di")."""
    last = line.rsplit(None, 1)[-1].lower().strip("'’")
    return last in _DANGLING


def unwrap_lines(text: str) -> str:
    """Join the lines a PDF wrapped at its right margin: a line about as long as the page's full lines, not
    ending a sentence, continues on the next one (or any line does when the next starts in lower case).
    Short lines (headings, last lines of paragraphs) and numbered headings stay on their own."""
    lines = [line.strip() for line in text.split("\n")]
    lengths = sorted(len(line) for line in lines if line)
    if len(lengths) < 4:
        return text
    full = lengths[int(0.9 * (len(lengths) - 1))]
    out: list[str] = []
    prev = ""
    for line in lines:
        open_end = bool(prev) and not prev.endswith(_LINE_END) and not _is_caps(prev)
        starts_own = bool(_HEADING_START.match(line) or _LABEL_START.match(line))
        wrapped = open_end and (_dangling(prev) or (not starts_own and len(prev) >= 0.7 * full))
        if line and out and (wrapped or (open_end and (line[:1].islower() or line[:1] == "("))):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
        prev = line
    return "\n".join(out)


def load_file(path: Path) -> Loaded:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot open: {exc.strerror or exc}", "il file non si apre") from exc
    return load_bytes(data, path.name)


def _short(message: str) -> str:
    line = " ".join(message.split())
    for marker in ("Error:", "skipping.", "Skipping it."):
        if marker in line:
            line = line.split(marker, 1)[1].strip() or line
    return line[:200]
