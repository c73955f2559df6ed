"""Ingestion run: find files, skip unchanged ones by content hash, index the rest one document at a time."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from haystack import Document, Pipeline

from assistant.core.config import Settings
from assistant.core.text import is_heading_line, is_section_heading
from assistant.models.bm25 import BM25DocumentEncoder
from assistant.models.e5 import DenseDocumentEmbedder, E5SentenceEmbedder
from assistant.storage.filters import norm_key
from assistant.storage.records import DocumentRecord
from assistant.storage.store import Store

from .chunking import SentenceChunker
from .cleaning import ItalianWebCleaner, clean_text
from .loading import Limits, LoadError, TooLarge, doc_id_for, is_supported, load_bytes
from .metadata import METADATA_FILES, metadata_for
from .pages import assign_pages

log = logging.getLogger("ingest")

# Bump when cleaning/chunking/embedding changes, so unchanged files are re-indexed once.
PIPELINE_VERSION = "6"
LEAD_WORDS = 80


@dataclass
class Failure:
    path: str
    reason: str

    def line(self) -> str:
        return f"FAILED {self.path}: {self.reason}"


@dataclass
class Summary:
    files: int = 0
    indexed: int = 0
    passages: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def line(self) -> str:
        return (
            f"files: {self.files}, indexed: {self.indexed}, passages: {self.passages}, unchanged: {self.unchanged}, "
            f"skipped: {self.skipped}, failed: {self.failed}, removed: {self.removed}, seconds: {self.seconds:.2f}"
        )


def build_pipeline(settings: Settings, embed_passages=None) -> Pipeline:
    """clean → split → sparse (BM25) → dense (the store's embedder) → e5 sentence vectors, for already-converted
    Documents."""
    pipe = Pipeline()
    pipe.add_component("clean", ItalianWebCleaner())
    pipe.add_component(
        "split",
        SentenceChunker(settings.chunk_min_words, settings.chunk_max_words, settings.chunk_overlap_sentences),
    )
    pipe.add_component("sparse", BM25DocumentEncoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avgdl))
    pipe.add_component("dense", DenseDocumentEmbedder(embed_passages))
    pipe.connect("clean.documents", "split.documents")
    pipe.connect("split.documents", "sparse.documents")
    pipe.add_component("sentences", E5SentenceEmbedder(vectors=settings.sentence_vectors == "ingest"))
    pipe.connect("sparse.documents", "dense.documents")
    pipe.connect("dense.documents", "sentences.documents")
    return pipe


def content_hash(data: bytes, meta: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(PIPELINE_VERSION.encode())
    h.update(json.dumps(meta, sort_keys=True, ensure_ascii=False).encode())
    h.update(data)
    return h.hexdigest()


def find_files(paths: list[Path]) -> tuple[list[Path], list[Failure], int]:
    """Regular files under the given folders (or the given files). A link that leads outside its folder, a
    broken link and anything that is not a regular file (FIFO, socket, device) are reported, never read."""
    files: list[Path] = []
    failures: list[Failure] = []
    skipped = 0
    for root in paths:
        if not root.exists():
            failures.append(Failure(str(root), "no such file or directory"))
            continue
        if not root.is_dir():
            candidates = [root]
        else:
            candidates = []
            real_root = root.resolve()
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                here = Path(dirpath)
                for d in list(dirnames):
                    if (here / d).is_symlink():
                        dirnames.remove(d)  # not descended: it may lead anywhere, or loop
                        failures.append(Failure(str(here / d), "linked folder skipped (links are not followed)"))
                for name in filenames:
                    p = here / name
                    if p.is_symlink():
                        target = p.resolve()
                        if not target.exists():
                            failures.append(Failure(str(p), "broken link"))
                            continue
                        if not _is_under(target, real_root):
                            failures.append(Failure(str(p), "link to a file outside the folder, not indexed"))
                            continue
                    candidates.append(p)
            candidates.sort()
        for p in candidates:
            if p.name.startswith(".") or p.name in METADATA_FILES:
                skipped += 1
                continue
            if not p.is_file():
                failures.append(Failure(str(p), "not a regular file (FIFO, socket or device), not read"))
                continue
            files.append(p)
    return files, failures, skipped


_TITLE_FIELD = re.compile(r"^\s*titolo(?: del progetto)?\s*:\s*(\S.{2,200})$", re.IGNORECASE)


def _title_from_text(text: str, fallback: str) -> str:
    """A "Titolo: …" field near the top (project sheets open with a generic "SCHEDA DI PROGETTO"), else the
    first heading-like line."""
    lines = text.split("\n")
    for line in lines[:15]:
        field = _TITLE_FIELD.match(line)
        if field:
            return field.group(1).strip()[:160]
    heads = [line.strip().lstrip("#").strip() for line in lines if line.strip().lstrip("#").strip()]
    for i, line in enumerate(heads):
        if is_heading_line(line) or len(line) <= 120:
            # "Comunicato stampa", "Rapporto finale": a generic opening line says more with the next one
            if len(line.split()) <= 3 and i + 1 < len(heads) and len(heads[i + 1]) <= 160:
                line = f"{line} – {heads[i + 1]}"
            return line[:160]
    return fallback


def lead_of(text: str) -> str:
    """The document's opening words, what its passages are all about: up to LEAD_WORDS words of its first
    section (title and opening paragraphs), not the second item of a newsletter."""
    kept: list[str] = []
    heads = 0
    for line in text.split("\n"):
        if is_section_heading(line):
            heads += 1
            if heads > 1 and kept and not is_heading_line(kept[-1]):
                break
        kept.append(line)
    return " ".join(" ".join(kept).split()[:LEAD_WORDS])


def document_meta(doc_id: str, text: str, meta: dict[str, Any], source: str) -> dict[str, Any]:
    """Meta carried by every passage: document fields plus lower-cased keys for filters."""
    organisation = str(meta.get("organisation") or "")
    countries = [str(c) for c in meta.get("countries") or []]
    themes = [str(t) for t in meta.get("themes") or []]
    return {
        "doc_id": doc_id,
        "title": str(meta.get("title") or _title_from_text(text, doc_id)),
        "organisation": organisation,
        "org_key": norm_key(organisation),
        "source_kind": str(meta.get("source_kind") or ""),
        "source_path": source,
        "countries": countries,
        "country_keys": [norm_key(c) for c in countries],
        "themes": themes,
        "theme_keys": [norm_key(t) for t in themes],
        "year": [int(y) for y in meta.get("years") or []],
        "dates": [str(d) for d in meta.get("dates") or []],
    }


class Ingestor:
    """Indexes documents into a Store; one instance per store (the API keeps one for uploads)."""

    def __init__(self, store: Store, settings: Settings, progress: bool = False) -> None:
        self.store = store
        self.settings = settings
        self.progress = progress
        self.pipeline = build_pipeline(settings, store.embedder.passages)
        self.limits = Limits(max_uncompressed_bytes=int(settings.max_uncompressed_mb * 1024 * 1024),
                             max_pdf_pages=settings.max_pdf_pages, max_chars=settings.max_document_words * 20)

    def index_bytes(self, data: bytes, name: str, meta: dict[str, Any] | None = None,
                    source: str | None = None, doc_id: str | None = None,
                    progress: Callable[[str], None] | None = None) -> tuple[DocumentRecord, bool]:
        """Index one file's bytes. Returns (record, changed). Raises LoadError; the store is untouched then.
        `progress` hears the stage names (conversione, indicizzazione, scrittura)."""
        progress = progress or (lambda stage: None)
        meta = meta or {}
        doc_id = doc_id or doc_id_for(Path(name))
        digest = content_hash(data, meta)
        current = self.store.get(doc_id)
        if current is not None and current.content_hash == digest:
            return current, False
        progress("conversione")
        loaded = load_bytes(data, name, self.limits)
        words = len(loaded.text.split())
        if words > self.settings.max_document_words:
            raise TooLarge(f"{words:,} words: the limit is {self.settings.max_document_words:,} per document",
                           f"{words:,} parole: il massimo è {self.settings.max_document_words:,} per documento")
        # The title is read from the cleaned text: a page saved as Markdown may open with its menu.
        passage_meta = document_meta(doc_id, clean_text(loaded.text), meta, source or name)
        if loaded.ocr_pages:  # the text was read from page images: it may hold OCR errors
            passage_meta["ocr_pages"] = loaded.ocr_pages
        progress("indicizzazione")
        result = self.pipeline.run({"clean": {"documents": [Document(content=loaded.text, meta=passage_meta)]}})
        passages: list[Document] = result["sentences"]["documents"]
        if not passages:
            raise LoadError("no text left after cleaning", "dopo la pulizia non resta testo")
        if len(passages) > self.settings.max_document_passages:
            raise TooLarge(f"{len(passages):,} passages: the limit is {self.settings.max_document_passages:,} "
                           "per document", f"{len(passages):,} passaggi: il massimo è "
                           f"{self.settings.max_document_passages:,} per documento")
        if loaded.pages:  # a PDF: each passage knows its page, for citations ("p. 3")
            passages = assign_pages(passages, loaded.pages)
        # The opening of a document says whose and where it is; answerability checks read it with every passage.
        lead = lead_of(passages[0].content or "")
        passages = [replace(d, meta={**d.meta, "lead": lead}) for d in passages]
        record = DocumentRecord(
            doc_id=doc_id, version=digest[:16], content_hash=digest, title=passage_meta["title"],
            organisation=passage_meta["organisation"], source_kind=passage_meta["source_kind"],
            source_path=passage_meta["source_path"], dates=passage_meta["dates"],
            countries=passage_meta["countries"], themes=passage_meta["themes"], years=passage_meta["year"],
            sentence_vectors=self.settings.sentence_vectors == "ingest",
        )
        progress("scrittura")
        self.store.write_document(record, passages)
        log.info("indexed", extra={"fields": {"doc_id": doc_id, "passages": len(passages)}})
        return record, True

    def run(self, paths: list[Path], sync: bool = False, echo=print) -> Summary:
        started = time.perf_counter()
        summary = Summary()
        self.store.collect_garbage()
        files, failures, summary.skipped = find_files(paths)
        summary.failures.extend(failures)
        for f in failures:
            echo(f.line())
        seen: dict[str, Path] = {}
        from tqdm import tqdm

        for path in tqdm(files, desc="indexing (embedding)", unit="file", disable=not self.progress):
            summary.files += 1
            if not is_supported(path):
                fail = Failure(str(path), f"unsupported file type '{path.suffix or path.name}'")
                summary.failures.append(fail)
                echo(fail.line())
                continue
            doc_id = doc_id_for(path)
            if doc_id in seen:
                fail = Failure(str(path), f"document id '{doc_id}' already used by {seen[doc_id]}")
                summary.failures.append(fail)
                echo(fail.line())
                continue
            seen[doc_id] = path
            try:
                record, changed = self.index_bytes(path.read_bytes(), path.name, metadata_for(path),
                                                   source=str(path.resolve()), doc_id=doc_id)
            except (LoadError, OSError) as exc:
                fail = Failure(str(path), str(exc) if isinstance(exc, LoadError) else f"cannot open: {exc}")
                summary.failures.append(fail)
                echo(fail.line())
                continue
            if changed:
                summary.indexed += 1
                summary.passages += record.passages
            else:
                summary.unchanged += 1
        if sync:
            summary.removed = self._sync(paths, set(seen))
        summary.seconds = time.perf_counter() - started
        return summary

    def _sync(self, paths: list[Path], seen: set[str]) -> int:
        roots = [p.resolve() for p in paths if p.is_dir()]
        removed = 0
        for rec in self.store.documents():
            if rec.doc_id in seen:
                continue
            src = Path(rec.source_path)
            # "upload:name" and "dataset:name" sources have no file to look for
            virtual = re.match(r"^[a-z]+:", rec.source_path) is not None
            gone = not virtual and (any(_is_under(src, r) for r in roots) or not src.exists())
            if gone and self.store.delete_document(rec.doc_id):
                removed += 1
                log.info("removed", extra={"fields": {"doc_id": rec.doc_id}})
        return removed


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False
