"""Uploaded files kept for download: one file per document at an exact name, data/uploads/<doc_id><suffix>, the
suffix that of the upload recorded in the registry (source_path "upload:<name>"). A document id holds no '/'
and the suffix is one supported extension, so no two documents can share a name; nothing is ever found by a
prefix (a glob on "bilancio.*" would also find "bilancio.interno.txt")."""

from __future__ import annotations

from pathlib import Path

from assistant.storage.records import DocumentRecord


def original_path(folder: Path, doc_id: str, source_path: str) -> Path | None:
    """Where the upload behind `source_path` is kept; None for documents that were not uploaded."""
    if not source_path.startswith("upload:"):
        return None
    suffix = Path(source_path.removeprefix("upload:")).suffix.lower()
    return folder / f"{doc_id}{suffix}" if suffix else None


def original_of(folder: Path, record: DocumentRecord | None) -> Path | None:
    """The kept file of a document, if it is there."""
    if record is None:
        return None
    path = original_path(folder, record.doc_id, record.source_path)
    return path if path is not None and path.is_file() else None


def keep_original(folder: Path, doc_id: str, source_path: str, data: bytes,
                  previous: DocumentRecord | None = None) -> None:
    """Write the upload whole, then rename it into place; the previous upload of the same document goes if it
    had another suffix (exactly that file, nothing else)."""
    path = original_path(folder, doc_id, source_path)
    if path is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.part"
    tmp.write_bytes(data)
    tmp.replace(path)
    old = original_path(folder, doc_id, previous.source_path) if previous is not None else None
    if old is not None and old != path:
        old.unlink(missing_ok=True)


def drop_original(folder: Path, record: DocumentRecord | None) -> None:
    """Remove exactly the kept file of a deleted document."""
    path = original_path(folder, record.doc_id, record.source_path) if record is not None else None
    if path is not None:
        path.unlink(missing_ok=True)
