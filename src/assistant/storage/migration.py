"""One-time migration of an embedded store made by qdrant-client's local mode (`data/qdrant/`) to Qdrant Edge.

Runs when the Store opens and finds no Edge shard for its collection but a local-mode one. The old folder is
never changed: it is read, copied into Edge under temporary names, and the copy is renamed into place last,
so a migration cut short starts again on the next start.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from assistant.core.config import Settings
from assistant.storage.engines.base import EngineUnavailable, describe

log = logging.getLogger("assistant.storage.migration")


def legacy_collections(path: Path) -> set[str]:
    root = path / "collection"
    return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()


def needs_migration(settings: Settings, collection: str) -> bool:
    edge_dir = settings.data_dir / "edge" / collection
    return not edge_dir.exists() and collection in legacy_collections(settings.legacy_store_path)


def migrate_legacy(settings: Settings, collection: str, progress: bool = True) -> int:
    """Copy the collection and its registry from local mode into Edge; returns the passages copied (0: none)."""
    if not needs_migration(settings, collection):
        return 0
    from haystack import Document
    from haystack.dataclasses import SparseEmbedding
    from qdrant_client import QdrantClient
    from tqdm import tqdm

    from assistant.storage.engines.edge import EdgeEngine

    legacy = settings.legacy_store_path
    root = settings.data_dir / "edge"
    staging = root / ".migrating"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        client = QdrantClient(path=str(legacy), force_disable_check_same_thread=True)
    except Exception as exc:  # noqa: BLE001
        raise EngineUnavailable(
            f"the store in {legacy} was made by an older version and could not be read for migration "
            f"({describe(exc)[:160]}); stop any other process using it and run `assistant migrate`"
        ) from exc
    copied = 0
    try:
        total = client.count(collection, exact=True).count
        engine = EdgeEngine(staging, collection)
        try:
            bar = tqdm(total=total, desc=f"migrating {collection} to Qdrant Edge", unit="passage",
                       file=sys.stderr, disable=not progress)
            offset = None
            while True:
                points, offset = client.scroll(collection, limit=256, offset=offset, with_payload=True,
                                               with_vectors=True)
                docs = []
                for p in points:
                    payload = p.payload or {}
                    vectors = p.vector if isinstance(p.vector, dict) else {}
                    sparse = vectors.get("text-sparse")
                    docs.append(Document(
                        id=payload.get("id") or str(p.id), content=payload.get("content", ""),
                        meta=payload.get("meta", {}), embedding=list(vectors.get("text-dense") or []),
                        sparse_embedding=SparseEmbedding(indices=list(sparse.indices), values=list(sparse.values))
                        if sparse is not None else None))
                if docs:
                    engine.write_passages(docs)
                copied += len(docs)
                bar.update(len(docs))
                if offset is None:
                    break
            bar.close()
            registry = f"{collection}_documents"
            if client.collection_exists(registry):
                offset = None
                while True:
                    points, offset = client.scroll(registry, limit=1000, offset=offset, with_payload=True)
                    for p in points:
                        engine.put_record(str(p.id), p.payload or {})
                    if offset is None:
                        break
        finally:
            engine.close()
    finally:
        client.close()
    # Records first, passages last: the passages folder existing is what marks the migration done.
    for name in (f"{collection}_documents", collection):
        target = root / name
        shutil.rmtree(target, ignore_errors=True)
        (staging / name).rename(target)
    marker = staging / f".{collection}.unoptimized"
    if marker.exists():
        marker.rename(root / marker.name)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("migrated (the old folder can be deleted)", extra={"fields": {"collection": collection,
                                                                           "passages": copied, "from": legacy}})
    return copied
