"""File loading with Haystack's converters, plus the checks that make bad input a clear one-line error."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from haystack import Document
from haystack.dataclasses import ByteStream

SUPPORTED = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
             ".pdf": "pdf", ".docx": "docx"}


class LoadError(ValueError):
    """A file that cannot be turned into text; the message says why, in one line."""


@dataclass
class Loaded:
    text: str
    kind: str


def doc_id_for(path: Path) -> str:
    return path.stem


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


def decode_text(data: bytes) -> str:
    """UTF-8 if valid, else Windows-1252/Latin-1 (what Italian public sites often serve); binary is refused."""
    if b"\x00" in data[:8192]:
        raise LoadError("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined: plain Latin-1 maps every byte
        text = data.decode("latin-1")
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    if printable < 0.95 * len(text):
        raise LoadError("binary content, not text")
    return text


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _converter(kind: str):
    # Imported on first use: converters pull in trafilatura, pypdf and docx, which an unchanged re-run never needs.
    from haystack.components.converters import (
        DOCXToDocument,
        HTMLToDocument,
        MarkdownToDocument,
        PyPDFToDocument,
        TextFileToDocument,
    )

    # Text and HTML reach the converters already decoded to UTF-8 (see decode_text), whatever they declared.
    return {
        "text": lambda: TextFileToDocument(encoding="utf-8"),
        "markdown": MarkdownToDocument,
        "html": lambda: HTMLToDocument(encoding="utf-8"),
        "pdf": PyPDFToDocument,
        "docx": DOCXToDocument,
    }[kind]()


def load_bytes(data: bytes, name: str) -> Loaded:
    """Convert one file's bytes to text with the Haystack converter for its extension."""
    suffix = Path(name).suffix.lower()
    kind = SUPPORTED.get(suffix)
    if kind is None:
        raise LoadError(f"unsupported file type '{suffix or name}' (supported: {', '.join(sorted(SUPPORTED))})")
    if not data.strip():
        raise LoadError("empty file")
    meta = {"file_path": name}
    if kind in ("text", "markdown"):
        text = decode_text(data)
        source = ByteStream(data=text.encode("utf-8"), meta={**meta, "encoding": "utf-8"})
    elif kind == "html":
        source = ByteStream(data=decode_text(data).encode("utf-8"), meta=meta)
    else:
        source = ByteStream(data=data, meta=meta)
    capture = _Capture()
    root = logging.getLogger("haystack")
    root.addHandler(capture)
    try:
        docs: list[Document] = _converter(kind).run(sources=[source])["documents"]
    except Exception as exc:  # noqa: BLE001 - a converter crash is this file's failure, not the run's
        raise LoadError(f"cannot read {kind}: {exc}") from exc
    finally:
        root.removeHandler(capture)
    text = "\n".join(d.content or "" for d in docs).strip()
    if kind == "pdf":
        text = unwrap_lines(text)
    if not docs:
        reason = capture.messages[-1] if capture.messages else "converter produced nothing"
        raise LoadError(f"cannot read {kind}: {_short(reason)}")
    if not text:
        raise LoadError("no text found in the file" if kind != "pdf" else "no text layer in the PDF (scanned?)")
    return Loaded(text=text, kind=kind)


_LINE_END = (".", ";", ":", "!", "?")
_HEADING_START = re.compile(r"^(?:[Aa]rt(?:icolo|\.)\s*\d+|\d+(?:\.\d+)*[.)]\s|[A-ZÀ-Ý][A-ZÀ-Ý '’]+$)")


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
        open_end = bool(prev) and not prev.endswith(_LINE_END)
        wrapped = open_end and len(prev) >= 0.7 * full and not _HEADING_START.match(line)
        if line and out and (wrapped or (open_end and line[:1].islower())):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
        prev = line
    return "\n".join(out)


def load_file(path: Path) -> Loaded:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot open: {exc.strerror or exc}") from exc
    return load_bytes(data, path.name)


def _short(message: str) -> str:
    line = " ".join(message.split())
    for marker in ("Error:", "skipping.", "Skipping it."):
        if marker in line:
            line = line.split(marker, 1)[1].strip() or line
    return line[:200]
