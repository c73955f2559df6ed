"""The Qdrant store: passages (dense + sparse vectors, one collection) and a registry of live documents.

Each document's passages carry a `version`. A document's registry record names its live version and
is written in one upsert *after* its new passages: that upsert is the commit point. Searches keep only
passages of live versions, so a killed ingestion leaves every document fully old or fully new, and
`collect_garbage()` removes leftovers on the next run.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from haystack import Document
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from qdrant_client import models

from .config import Settings
from .embedding import DIM

log = logging.getLogger("assistant.store")

Mode = Literal["hybrid", "dense", "sparse"]
_NS = uuid.UUID("7d0f3f55-54c8-4a8e-9a32-6f0c1a2b9e11")


class StoreUnavailable(RuntimeError):
    """The Qdrant store cannot be reached or opened."""


@dataclass
class DocumentRecord:
    doc_id: str
    version: str
    content_hash: str
    title: str = ""
    organisation: str = ""
    source_kind: str = ""
    source_path: str = ""
    dates: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    passages: int = 0
    updated_at: float = 0.0

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DocumentRecord:
        known = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class StoredPassage:
    doc_id: str
    version: str
    position: int
    content: str
    meta: dict[str, Any]
    score: float


class Store:
    """Owns the Qdrant client (embedded on disk by default, a server when QDRANT_URL is set)."""

    def __init__(self, settings: Settings, collection: str | None = None) -> None:
        self.settings = settings
        self.collection = collection or settings.collection
        self.registry = f"{self.collection}_documents"
        if settings.qdrant_url:
            params: dict[str, Any] = {"url": settings.qdrant_url, "client_kwargs": {"check_compatibility": False}}
            if settings.qdrant_api_key:
                params["api_key"] = Secret.from_token(settings.qdrant_api_key)
        else:
            from .local_speedups import apply

            apply()
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            params = {"path": str(settings.store_path), "force_disable_check_same_thread": True}
        # Embedded mode ignores payload indexes (it scans); a server uses them. Same code for both.
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        self.haystack = QdrantDocumentStore(
            **params,
            index=self.collection,
            embedding_dim=DIM,
            use_sparse_embeddings=True,
            sparse_idf=True,
            similarity="cosine",
            progress_bar=False,
            write_batch_size=64,
            payload_fields_to_index=[
                {"field_name": "meta.doc_id", "field_schema": models.PayloadSchemaType.KEYWORD},
                {"field_name": "meta.organisation", "field_schema": models.PayloadSchemaType.KEYWORD},
                {"field_name": "meta.org_key", "field_schema": models.PayloadSchemaType.KEYWORD},
                {"field_name": "meta.country_keys", "field_schema": models.PayloadSchemaType.KEYWORD},
                {"field_name": "meta.theme_keys", "field_schema": models.PayloadSchemaType.KEYWORD},
                {"field_name": "meta.year", "field_schema": models.PayloadSchemaType.INTEGER},
                {"field_name": "meta.version", "field_schema": models.PayloadSchemaType.KEYWORD},
            ],
        )
        # The embedded engine is not thread-safe; a server is, but one lock costs little at our scale.
        self._lock = threading.RLock()
        try:
            with self._lock:
                # The integration exposes no public client; we share its one (embedded mode allows one per folder).
                self.haystack._initialize_client()
                self.client = self.haystack._client
                self._ensure_registry()
                self._stats: tuple[int, dict[str, int]] | None = None
                self._loaded_at = 0.0
                self._live = self._load_registry()
        except Exception as exc:  # noqa: BLE001 - any failure to open is one clear error
            raise StoreUnavailable(_describe(exc)) from exc

    # ----- registry -------------------------------------------------------------------------
    def _ensure_registry(self) -> None:
        if not self.client.collection_exists(self.registry):
            self.client.create_collection(self.registry, vectors_config={})
            self.client.create_payload_index(self.registry, "doc_id", models.PayloadSchemaType.KEYWORD)

    def _live_record(self, payload: dict[str, Any] | None) -> DocumentRecord | None:
        """The record of a passage's document if the passage belongs to its live version, else None."""
        meta = (payload or {}).get("meta", {})
        rec = self._live.get(meta.get("doc_id", ""))
        return rec if rec is not None and rec.version == meta.get("version") else None

    def _scroll_all(self, collection: str, with_payload: bool | list[str]):
        """Every point of a collection, a page at a time."""
        offset = None
        while True:
            points, offset = self.client.scroll(collection, limit=1000, offset=offset, with_payload=with_payload)
            yield from points
            if offset is None:
                return

    def _load_registry(self) -> dict[str, DocumentRecord]:
        self._loaded_at = time.monotonic()
        self._stats = None
        records: dict[str, DocumentRecord] = {}
        for p in self._scroll_all(self.registry, with_payload=True):
            rec = DocumentRecord.from_payload(p.payload or {})
            records[rec.doc_id] = rec
        return records

    def documents(self) -> list[DocumentRecord]:
        with self._lock:
            return sorted(self._live.values(), key=lambda r: r.doc_id)

    def get(self, doc_id: str) -> DocumentRecord | None:
        with self._lock:
            return self._live.get(doc_id)

    # ----- writes ---------------------------------------------------------------------------
    def write_document(self, record: DocumentRecord, passages: list[Document]) -> None:
        """Write passages of a new version, then commit the record, then drop older versions."""
        passages = [
            replace(doc, id=f"{record.doc_id}:{record.version}:{doc.meta['position']}",
                    meta={**doc.meta, "version": record.version})
            for doc in passages
        ]
        record.passages = len(passages)
        record.updated_at = time.time()
        # The new version's passages are invisible until its record is committed, so they are written in small
        # batches with the lock let go in between: searches are not held up by a long document.
        for start in range(0, len(passages), 16):
            with self._lock:
                self.haystack.write_documents(passages[start : start + 16], policy=DuplicatePolicy.OVERWRITE)
        with self._lock:
            self.client.upsert(
                self.registry,
                points=[models.PointStruct(id=_record_id(record.doc_id), vector={}, payload=asdict(record))],
                wait=True,
            )
            self._live[record.doc_id] = record
            self._stats = None
            self._delete_passages(record.doc_id, keep_version=record.version)

    def delete_document(self, doc_id: str) -> bool:
        with self._lock:
            if doc_id not in self._live:
                return False
            self.client.delete(
                self.registry, points_selector=models.PointIdsList(points=[_record_id(doc_id)]), wait=True
            )
            del self._live[doc_id]
            self._stats = None
            self._delete_passages(doc_id)
            return True

    def _delete_passages(self, doc_id: str, keep_version: str | None = None) -> None:
        must_not = []
        if keep_version is not None:
            must_not.append(models.FieldCondition(key="meta.version", match=models.MatchValue(value=keep_version)))
        flt = models.Filter(
            must=[models.FieldCondition(key="meta.doc_id", match=models.MatchValue(value=doc_id))],
            must_not=must_not,
        )
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)

    def collect_garbage(self) -> int:
        """Delete passages whose document version is not live (left by an interrupted run)."""
        removed = 0
        with self._lock:
            stale: set[str] = set()
            for p in self._scroll_all(self.collection, with_payload=["meta.doc_id", "meta.version"]):
                if self._live_record(p.payload) is None:
                    stale.add((p.payload or {}).get("meta", {}).get("doc_id", ""))
                    removed += 1
            for doc_id in stale:
                live = self._live.get(doc_id)
                self._delete_passages(doc_id, keep_version=live.version if live else None)
        if removed:
            log.info("garbage_collected passages=%d", removed)
        return removed

    def term_stats(self) -> tuple[int, dict[str, int]]:
        """(passage count, document frequency per stem) over live passages; recomputed after writes."""
        with self._lock:
            if self._stats is not None:
                return self._stats
            from .text import content_stems

            df: dict[str, int] = {}
            n = 0
            for p in self._scroll_all(self.collection, with_payload=["content", "meta.doc_id", "meta.version"]):
                if self._live_record(p.payload) is None:
                    continue
                n += 1
                for term in set(content_stems(p.payload.get("content", ""))):
                    df[term] = df.get(term, 0) + 1
            self._stats = (n, df)
            return self._stats

    def count_passages(self) -> int:
        with self._lock:
            return self.client.count(self.collection, exact=True).count

    # ----- reads ----------------------------------------------------------------------------
    def query(
        self,
        dense: list[float] | None,
        sparse: tuple[list[int], list[float]] | None,
        mode: Mode = "hybrid",
        limit: int = 50,
        filters: Filters | None = None,
    ) -> list[StoredPassage]:
        """Dense, sparse, or both fused with reciprocal rank fusion in Qdrant's Query API."""
        flt = _filter(filters)
        prefetch_limit = max(limit, self.settings.prefetch_limit)
        sparse_q = models.SparseVector(indices=sparse[0], values=sparse[1]) if sparse else None
        if mode == "sparse" and (sparse_q is None or not sparse_q.indices):
            return []
        try:
            with self._lock:
                if mode == "dense":
                    res = self.client.query_points(
                        self.collection, query=dense, using="text-dense", limit=limit, query_filter=flt,
                        with_payload=True,
                    )
                elif mode == "sparse":
                    res = self.client.query_points(
                        self.collection, query=sparse_q, using="text-sparse", limit=limit, query_filter=flt,
                        with_payload=True,
                    )
                else:
                    prefetch = [models.Prefetch(query=dense, using="text-dense", limit=prefetch_limit, filter=flt)]
                    if sparse_q is not None and sparse_q.indices:
                        prefetch.append(
                            models.Prefetch(query=sparse_q, using="text-sparse", limit=prefetch_limit, filter=flt)
                        )
                    fusion = (models.RrfQuery(rrf=models.Rrf(k=self.settings.rrf_k)) if self.settings.rrf_k
                              else models.FusionQuery(fusion=models.Fusion.RRF))
                    res = self.client.query_points(
                        self.collection, prefetch=prefetch, query=fusion, limit=limit, with_payload=True,
                    )
                unknown = any(self._live_record(p.payload) is None for p in res.points)
                if unknown and time.monotonic() - self._loaded_at > 2.0:
                    # Another process (a second API on the same server) may have committed documents.
                    self._live = self._load_registry()
                out = []
                for p in res.points:
                    rec = self._live_record(p.payload)
                    if rec is None:
                        continue  # an uncommitted or superseded version
                    payload = p.payload or {}
                    meta = payload.get("meta", {})
                    out.append(
                        StoredPassage(
                            doc_id=rec.doc_id, version=rec.version, position=int(meta.get("position", 0)),
                            content=payload.get("content", ""), meta=meta, score=float(p.score),
                        )
                    )
                return out
        except Exception as exc:  # noqa: BLE001
            raise StoreUnavailable(_describe(exc)) from exc

    def passages_of(self, doc_id: str) -> list[StoredPassage]:
        rec = self.get(doc_id)
        if rec is None:
            return []
        flt = _filter(Filters(doc_ids=[doc_id]))
        with self._lock:
            points, _ = self.client.scroll(self.collection, scroll_filter=flt, limit=10000, with_payload=True)
        out = [
            StoredPassage(rec.doc_id, rec.version, int(p.payload["meta"]["position"]), p.payload.get("content", ""),
                          p.payload["meta"], 0.0)
            for p in points
            if self._live_record(p.payload) is not None
        ]
        return sorted(out, key=lambda s: s.position)

    def ping(self) -> bool:
        try:
            with self._lock:
                self.client.get_collections()
            return True
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        with self._lock:
            try:
                self.haystack.close()
            except Exception:  # noqa: BLE001
                pass


def _record_id(doc_id: str) -> str:
    return str(uuid.uuid5(_NS, doc_id))


@dataclass
class Filters:
    """Search filters; text values match case-insensitively."""

    organisations: list[str] | None = None
    doc_ids: list[str] | None = None
    countries: list[str] | None = None
    themes: list[str] | None = None
    year_from: int | None = None
    year_to: int | None = None


def norm_key(value: str) -> str:
    return " ".join(value.lower().split())


def _filter(f: Filters | None) -> models.Filter | None:
    if f is None:
        return None
    must: list[models.Condition] = []
    for key, values in (("meta.org_key", f.organisations), ("meta.country_keys", f.countries),
                        ("meta.theme_keys", f.themes)):
        if values:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=[norm_key(v) for v in values])))
    if f.doc_ids:
        must.append(models.FieldCondition(key="meta.doc_id", match=models.MatchAny(any=f.doc_ids)))
    if f.year_from is not None or f.year_to is not None:
        must.append(models.FieldCondition(key="meta.year", range=models.Range(gte=f.year_from, lte=f.year_to)))
    return models.Filter(must=must) if must else None


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "already accessed by another instance" in text:
        return "the embedded store is open in another process (stop the API or point QDRANT_URL at a server)"
    return text[:300]
