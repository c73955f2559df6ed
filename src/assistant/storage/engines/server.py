"""A Qdrant server through qdrant-client: the way to scale out (Qdrant's own distributed mode).

Passages are written by qdrant-haystack's `QdrantDocumentStore` (the maintained integration fits a server);
reads and the registry go through its qdrant-client.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from haystack import Document
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from qdrant_client import models

from assistant.storage.engines.base import (
    DENSE,
    LIGHT_PAYLOAD,
    SPARSE,
    Condition,
    EngineUnavailable,
    Hit,
    Match,
    Range,
    describe,
    point_id,
)

KEYWORD_FIELDS = ["meta.doc_id", "meta.version", "meta.organisation", "meta.org_key", "meta.country_keys",
                  "meta.theme_keys"]


class ServerEngine:
    name = "server"
    shared = True

    def __init__(self, params: dict[str, Any], collection: str, dim: int = 384) -> None:
        self.collection = collection
        self.registry = f"{collection}_documents"
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")  # local mode scans
        indexes = [{"field_name": f, "field_schema": models.PayloadSchemaType.KEYWORD} for f in KEYWORD_FIELDS]
        indexes.append({"field_name": "meta.year", "field_schema": models.PayloadSchemaType.INTEGER})

        def open_store(size: int) -> QdrantDocumentStore:
            store = QdrantDocumentStore(
                **params, index=collection, embedding_dim=size, use_sparse_embeddings=True, sparse_idf=True,
                similarity="cosine", progress_bar=False, write_batch_size=64, payload_fields_to_index=indexes,
            )
            try:
                store._initialize_client()  # the integration exposes no public client; we share its one
            except Exception:
                client = getattr(store, "_client", None)
                if client is not None:
                    client.close()
                raise
            return store

        try:
            try:
                self.haystack = open_store(dim)
            except Exception:
                # An existing collection keeps the size it was made with: the Store compares the embedder that
                # built it with the configured one and says what to do (like the embedded engine, which adopts it).
                existing = _existing_dim(params, collection)
                if existing is None or existing == dim:
                    raise
                self.haystack = open_store(existing)
            self.client = self.haystack._client
            if not self.client.collection_exists(self.registry):
                self.client.create_collection(self.registry, vectors_config={})
                self.client.create_payload_index(self.registry, "doc_id", models.PayloadSchemaType.KEYWORD)
        except Exception as exc:  # noqa: BLE001 - any failure to open is one clear error
            raise EngineUnavailable(describe(exc)) from exc

    @classmethod
    def remote(cls, url: str, api_key: str | None, collection: str, dim: int = 384) -> ServerEngine:
        params: dict[str, Any] = {"url": url, "client_kwargs": {"check_compatibility": False}}
        if api_key:
            params["api_key"] = Secret.from_token(api_key)
        return cls(params, collection, dim)

    @classmethod
    def local(cls, path: Path, collection: str, dim: int = 384) -> ServerEngine:
        path.mkdir(parents=True, exist_ok=True)
        return cls({"path": str(path), "force_disable_check_same_thread": True}, collection, dim)

    # ----- passages -------------------------------------------------------------------------
    def write_passages(self, documents: list[Document]) -> None:
        self.haystack.write_documents(documents, policy=DuplicatePolicy.OVERWRITE)

    def set_passage_meta(self, passage_ids: list[str], fields: dict[str, Any]) -> None:
        for pid in passage_ids:
            self.client.set_payload(self.collection, payload=fields, points=[point_id(pid)], key="meta", wait=True)

    def delete_passages(self, must: list[Condition], must_not: list[Condition]) -> None:
        flt = models.Filter(must=_conditions(must), must_not=_conditions(must_not))
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)

    def scroll_passages(self, fields: list[str] | bool, must: list[Condition] | None = None,
                        ) -> Iterator[dict[str, Any]]:
        flt = models.Filter(must=_conditions(must)) if must else None
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=1000, offset=offset,
                                                with_payload=fields)
            for p in points:
                yield p.payload or {}
            if offset is None:
                return

    def count_passages(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def query(self, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None,
              mode: Literal["dense", "sparse"], limit: int, must: list[Condition],
              sentence_vectors: bool = False, with_payload: bool = True) -> list[Hit]:
        flt = models.Filter(must=_conditions(must)) if must else None
        payload = _selector(sentence_vectors) if with_payload else False
        if mode == "dense":
            res = self.client.query_points(self.collection, query=dense, using=DENSE, limit=limit,
                                           query_filter=flt, with_payload=payload)
        else:
            if not (sparse and sparse[0]):
                return []
            res = self.client.query_points(self.collection, query=models.SparseVector(indices=sparse[0],
                                                                                      values=sparse[1]),
                                           using=SPARSE, limit=limit, query_filter=flt, with_payload=payload)
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in res.points]

    def payloads(self, point_ids: list[str], sentence_vectors: bool = False) -> dict[str, dict[str, Any]]:
        if not point_ids:
            return {}
        points = self.client.retrieve(self.collection, ids=point_ids, with_payload=_selector(sentence_vectors),
                                      with_vectors=False)
        return {str(p.id): p.payload or {} for p in points}

    # ----- records --------------------------------------------------------------------------
    def put_record(self, key: str, payload: dict[str, Any]) -> None:
        self.client.upsert(self.registry, points=[models.PointStruct(id=key, vector={}, payload=payload)], wait=True)

    def delete_record(self, key: str) -> None:
        self.client.delete(self.registry, points_selector=models.PointIdsList(points=[key]), wait=True)

    def records(self) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            points, offset = self.client.scroll(self.registry, limit=1000, offset=offset, with_payload=True)
            for p in points:
                yield p.payload or {}
            if offset is None:
                return

    def optimize(self, searches: AbstractContextManager[Any]) -> bool:
        return False  # a server optimizes its segments itself

    def upgrade_layout(self, progress: bool = True) -> int:
        return 0  # one layout so far on a server

    def ping(self) -> bool:
        try:
            self.client.get_collections()
            return True
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        try:
            self.haystack.close()
        except Exception:  # noqa: BLE001
            pass


def _conditions(conds: list[Condition] | None) -> list[models.Condition]:
    out: list[models.Condition] = []
    for c in conds or []:
        if isinstance(c, Match):
            match = (models.MatchValue(value=c.values[0]) if len(c.values) == 1
                     else models.MatchAny(any=list(c.values)))
            out.append(models.FieldCondition(key=c.key, match=match))
        elif isinstance(c, Range):
            out.append(models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte)))
    return out


def _selector(sentence_vectors: bool) -> Any:
    return True if sentence_vectors else models.PayloadSelectorInclude(include=LIGHT_PAYLOAD)


def _existing_dim(params: dict[str, Any], collection: str) -> int | None:
    """The dense vector size of an existing collection, read with a client of our own (closed again: local mode
    allows one client per folder)."""
    from qdrant_client import QdrantClient

    kwargs = {k: v for k, v in params.items() if k in ("url", "path", "force_disable_check_same_thread")}
    if "api_key" in params:
        kwargs["api_key"] = params["api_key"].resolve_value()
    client = QdrantClient(**kwargs)
    try:
        if not client.collection_exists(collection):
            return None
        vectors = client.get_collection(collection).config.params.vectors
        dense = vectors.get(DENSE) if isinstance(vectors, dict) else vectors
        return int(dense.size) if dense is not None else None
    finally:
        client.close()
