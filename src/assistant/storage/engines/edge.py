"""Qdrant Edge (`qdrant-edge-py`): Qdrant's Rust engine in process, on disk under `data/edge/`.

Hand-written because no Haystack document store wraps Qdrant Edge. Two shards per collection: passages (named
dense + sparse vectors, IDF on the sparse one) and document records (Edge has no vector-less shard, so each
record carries a one-dimensional placeholder vector).

A passage's sentence vectors (for answer selection) are a multivector of the point, not part of its payload: they
were two thirds of each payload, which every search reads (only for the page's passages, but from disk when the
page cache has let them go). Shards made before keep them in the payload and are read as they are.

`EdgeShard.optimize()` holds the GIL and the shard while it builds HNSW graphs and refreshes IDF, so it never
runs on the live shard: the shard is flushed and copied, a niced child process optimizes the copy, and the copy
replaces the live shard in one short swap. Searches go on throughout; writes wait (the Store's write gate).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import qdrant_edge as qe

from assistant.storage.engines.base import (DENSE, IN_USE, LIGHT_PAYLOAD, SPARSE, Condition, EngineUnavailable, Hit,
                                            Match, Range, describe, point_id)
from assistant.storage.engines.rebuild import rebuild_lock, recover_swap, spawn_optimizer

if TYPE_CHECKING:
    from haystack import Document

log = logging.getLogger("assistant.storage.store.edge")

KEYWORD_FIELDS = ["meta.doc_id", "meta.version", "meta.org_key", "meta.country_keys", "meta.theme_keys"]
INTEGER_FIELDS = ["meta.year"]
PAGE = 1000
# The child imports nothing of ours: it starts in a fraction of a second.


SENTENCES = "sentences"  # the multivector of a passage's sentence vectors (never searched: no HNSW graph)
SENTENCE_DIM = 384  # e5's, whatever the retrieval embedder: the answer selector reads e5 sentence vectors


def passages_config(dim: int, payload_memory: str = "pinned") -> qe.EdgeConfig:
    return qe.EdgeConfig(
        payload_memory={"pinned": qe.Memory.Pinned, "cached": qe.Memory.Cached, "cold": qe.Memory.Cold}[payload_memory],
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
                 SENTENCES: qe.EdgeVectorParams(
                     size=SENTENCE_DIM, distance=qe.Distance.Dot,
                     multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                     datatype=qe.VectorStorageDatatype.Float16, memory=qe.Memory.Cold,
                     hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000))},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )


_PASSAGE_INDEXES = ([(f, qe.PayloadSchemaType.Keyword) for f in KEYWORD_FIELDS]
                    + [(f, qe.PayloadSchemaType.Integer) for f in INTEGER_FIELDS])


def records_config() -> qe.EdgeConfig:
    return qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot))


class EdgeEngine:
    name = "edge"
    shared = False  # one process per folder (the lock file)

    def __init__(self, root: Path, collection: str, hnsw_ef: int = 256, exact_below: int = 20_000,
                 dim: int = 384, payload_memory: str = "pinned") -> None:
        self.root = root
        self.dim = dim
        self.payload_memory = payload_memory
        self.hnsw_ef = hnsw_ef
        self.exact_below = exact_below
        self.passages_dir = root / collection
        self.records_dir = root / f"{collection}_documents"
        self.dirty_marker = root / f".{collection}.unoptimized"
        self._child: subprocess.Popen[str] | None = None
        self._closing = False
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._lock_file = _lock(root / f".{collection}.lock")
            recover_swap(self.passages_dir)
            self.passages = _open(self.passages_dir, passages_config(dim, payload_memory), _PASSAGE_INDEXES)
            self.records_shard = _open(self.records_dir, records_config(), [("doc_id", qe.PayloadSchemaType.Keyword)])
            self.vectors_apart = SENTENCES in _vector_names(self.passages_dir)
            if not self.vectors_apart:
                log.warning("store_layout_legacy", extra={"fields": {
                    "collection": collection, "hint": "sentence vectors ride in the passage payloads, so searches "
                    "read more from disk; stop the API and run `assistant migrate` to convert it"}})
        except EngineUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to open is one clear error
            raise EngineUnavailable(describe(exc)) from exc

    # ----- passages -------------------------------------------------------------------------
    def write_passages(self, documents: list[Document]) -> None:
        points = []
        for doc in documents:
            vector: dict[str, Any] = {DENSE: list(doc.embedding or [])}
            if doc.sparse_embedding is not None and doc.sparse_embedding.indices:
                vector[SPARSE] = qe.SparseVector(list(doc.sparse_embedding.indices),
                                                 list(doc.sparse_embedding.values))
            meta = _vectors_out(doc.meta, vector) if self.vectors_apart else doc.meta
            payload = {"id": doc.id, "content": doc.content or "", "meta": meta}
            points.append(qe.Point(point_id(doc.id), vector, payload))
        self._mark_dirty()
        self.passages.update(qe.UpdateOperation.upsert_points(points))

    def set_passage_meta(self, passage_ids: list[str], fields: dict[str, Any]) -> None:
        if self.vectors_apart and "sentence_vectors" in fields:
            vector: dict[str, Any] = {}
            fields = _vectors_out(fields, vector)
            if vector:
                self.passages.update(qe.UpdateOperation.update_vectors(
                    [qe.PointVectors(point_id(pid), vector) for pid in passage_ids]))
            if not fields:
                return
        for pid in passage_ids:  # one value per passage
            self.passages.update(qe.UpdateOperation.set_payload([point_id(pid)], fields, key="meta"))

    def delete_passages(self, must: list[Condition], must_not: list[Condition]) -> None:
        self._mark_dirty()
        self.passages.update(qe.UpdateOperation.delete_points_by_filter(
            qe.Filter(must=_conditions(must), must_not=_conditions(must_not))))

    def scroll_passages(self, fields: list[str] | bool, must: list[Condition] | None = None,
                        ) -> Iterator[dict[str, Any]]:
        flt = qe.Filter(must=_conditions(must)) if must else None
        yield from _scroll(self.passages, fields, flt, self.vectors_apart and fields is True)

    def count_passages(self) -> int:
        return self.passages.count(qe.CountRequest(exact=True))

    def query(self, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None,
              mode: Literal["dense", "sparse"], limit: int, must: list[Condition],
              sentence_vectors: bool = False, with_payload: bool = True) -> list[Hit]:
        flt = qe.Filter(must=_conditions(must)) if must else None
        payload = _selector(sentence_vectors) if with_payload else False
        vectors = [SENTENCES] if with_payload and sentence_vectors and self.vectors_apart else False
        if mode == "dense":
            req = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(dense, using=DENSE), filter=flt,
                                  params=self._params(flt), with_payload=payload, with_vector=vectors)
        else:
            if not (sparse and sparse[0]):
                return []
            req = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(qe.SparseVector(sparse[0], sparse[1]),
                                                                      using=SPARSE),
                                  filter=flt, with_payload=payload, with_vector=vectors)
        return [Hit(str(p.id), float(p.score), _whole(p, bool(vectors))) for p in self.passages.query(req)]

    def payloads(self, point_ids: list[str], sentence_vectors: bool = False) -> dict[str, dict[str, Any]]:
        if not point_ids:
            return {}
        vectors = [SENTENCES] if sentence_vectors and self.vectors_apart else False
        return {str(p.id): _whole(p, bool(vectors))
                for p in self.passages.retrieve(point_ids, _selector(sentence_vectors), vectors)}

    def _params(self, flt: qe.Filter | None) -> qe.SearchParams:
        """HNSW with a wider beam; exact search when a filter leaves few passages (HNSW recall drops there)."""
        if flt is not None and self.passages.count(qe.CountRequest(filter=flt, exact=False)) <= self.exact_below:
            return qe.SearchParams(exact=True)
        return qe.SearchParams(hnsw_ef=self.hnsw_ef)

    # ----- records --------------------------------------------------------------------------
    def put_record(self, key: str, payload: dict[str, Any]) -> None:
        self.records_shard.update(qe.UpdateOperation.upsert_points([qe.Point(key, [1.0], payload)]))

    def delete_record(self, key: str) -> None:
        self.records_shard.update(qe.UpdateOperation.delete_points([key]))

    def records(self) -> Iterator[dict[str, Any]]:
        yield from _scroll(self.records_shard, True, None)

    # ----- maintenance ----------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        if not self.dirty_marker.exists():
            self.dirty_marker.touch()

    def needs_optimize(self) -> bool:
        return self.dirty_marker.exists()

    def optimize(self, searches: AbstractContextManager[Any]) -> bool:
        if not self.needs_optimize():
            return False
        started = time.perf_counter()
        with searches:
            self.passages.flush()
            self.records_shard.flush()
        work = self.passages_dir.with_name(self.passages_dir.name + ".next")
        with rebuild_lock(self.passages_dir):  # no optimizer left by an earlier process is on the copy
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(self.passages_dir, work)
        if self._closing:
            shutil.rmtree(work, ignore_errors=True)
            return False
        self._child = spawn_optimizer(work, self.passages_dir)
        _, err = self._child.communicate()
        code, self._child = self._child.returncode, None
        if code != 0 or self._closing:
            shutil.rmtree(work, ignore_errors=True)
            log.warning("optimize_failed", extra={"fields": {"code": code,
                                                             "error": (err or "").strip().splitlines()[-1:]}})
            return False
        with searches:
            old = self._swap_in(work)
        self.dirty_marker.unlink(missing_ok=True)  # no write came in meanwhile: they wait on the Store's gate
        shutil.rmtree(old, ignore_errors=True)
        self.records_shard.optimize()  # a few thousand one-number points: milliseconds
        log.info("optimized", extra={"fields": {"engine": "edge", "seconds": time.perf_counter() - started}})
        return True

    def upgrade_layout(self, progress: bool = True) -> int:
        """Rewrite a shard of the earlier layout (sentence vectors in the payload) into the current one; returns
        the passages rewritten (0: already current). Offline: the caller holds the folder (the lock file).

        The copy is built beside the live shard and swapped in by the same renames as `optimize`, so a run cut
        short leaves the old shard whole (`recover_swap` drops the half-made copy on the next open)."""
        if self.vectors_apart:
            return 0
        from tqdm import tqdm

        work = self.passages_dir.with_name(self.passages_dir.name + ".next")
        shutil.rmtree(work, ignore_errors=True)
        total = self.count_passages()
        target = _open(work, passages_config(self.dim, self.payload_memory), _PASSAGE_INDEXES)
        copied = 0
        try:
            bar = tqdm(total=total, desc="converting passages to the current layout", unit="passage",
                       file=sys.stderr, disable=not progress)
            offset = None
            while True:
                points, offset = self.passages.scroll(qe.ScrollRequest(offset=offset, limit=PAGE, with_payload=True,
                                                                       with_vector=True))
                batch = []
                for p in points:
                    vectors: dict[str, Any] = {DENSE: list(p.vector[DENSE])}
                    sparse = p.vector.get(SPARSE)
                    if sparse is not None and len(sparse.indices):
                        vectors[SPARSE] = qe.SparseVector(list(sparse.indices), list(sparse.values))
                    payload = p.payload or {}
                    if "meta" in payload:
                        payload["meta"] = _vectors_out(payload["meta"], vectors)
                    batch.append(qe.Point(p.id, vectors, payload))
                if batch:
                    target.update(qe.UpdateOperation.upsert_points(batch))
                copied += len(batch)
                bar.update(len(batch))
                if offset is None:
                    break
            bar.close()
            if copied != total:
                raise RuntimeError(f"copied {copied} of {total} passages")
            log.info("upgrade_layout optimizing", extra={"fields": {"passages": copied}})
            target.optimize()  # HNSW graph and IDF before it serves a search
            target.close()
        except BaseException:
            target.close()
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(self._swap_in(work), ignore_errors=True)
        self.vectors_apart = True
        log.info("upgrade_layout done", extra={"fields": {"passages": copied}})
        return copied

    def _swap_in(self, work: Path) -> Path:
        """Make the shard built in `work` the live one; returns where the previous one went (for the caller to
        delete). The names are the ones `recover_swap` knows, so a crash between the renames is undone on open."""
        old = self.passages_dir.with_name(self.passages_dir.name + ".old")
        self.passages.close()
        os.rename(self.passages_dir, old)
        os.rename(work, self.passages_dir)
        self.passages = qe.EdgeShard.load(str(self.passages_dir))
        return old

    def ping(self) -> bool:
        try:
            self.passages.count(qe.CountRequest(exact=False))
            return True
        except Exception:  # noqa: BLE001
            return False

    def stop_optimizing(self) -> None:
        """Stop a rebuild in progress (on shutdown): the copy is dropped, the live shard was never touched."""
        self._closing = True
        child = self._child
        if child is not None:
            child.kill()

    def close(self) -> None:
        for shard in (getattr(self, "passages", None), getattr(self, "records_shard", None)):
            if shard is not None:
                try:
                    shard.close()
                except Exception:  # noqa: BLE001
                    pass
        lock_file = getattr(self, "_lock_file", None)
        if lock_file is not None:
            lock_file.close()
            self._lock_file = None


def _selector(sentence_vectors: bool) -> Any:
    return True if sentence_vectors else qe.PayloadSelector.Include(LIGHT_PAYLOAD)


def _lock(path: Path) -> IO[str]:
    handle = open(path, "a+")  # noqa: SIM115 - held for the engine's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise EngineUnavailable(IN_USE) from None
    return handle


def _open(path: Path, config: qe.EdgeConfig, indexes: list[tuple[str, Any]]) -> qe.EdgeShard:
    if path.exists() and any(path.iterdir()):
        return qe.EdgeShard.load(str(path))
    shutil.rmtree(path, ignore_errors=True)
    shard = qe.EdgeShard.create(str(path), config)
    for field, schema in indexes:
        shard.update(qe.UpdateOperation.create_field_index(field, schema))
    return shard


def _scroll(shard: qe.EdgeShard, fields: list[str] | bool, flt: qe.Filter | None,
            sentence_vectors: bool = False) -> Iterator[dict[str, Any]]:
    offset = None
    while True:
        points, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=PAGE, filter=flt, with_payload=fields,
                                                       with_vector=[SENTENCES] if sentence_vectors else False))
        for p in points:
            yield _whole(p, sentence_vectors)
        if offset is None:
            return


def _whole(point: Any, with_vectors: bool) -> dict[str, Any]:
    """A point's payload, with its sentence vectors back in `meta` (packed, as the store reads them) when it was
    read with them."""
    payload = point.payload or {}
    if not with_vectors:
        return payload
    vectors = point.vector.get(SENTENCES) if isinstance(point.vector, dict) else None
    if vectors:
        from assistant.models.e5 import pack_vectors

        payload.setdefault("meta", {})["sentence_vectors"] = pack_vectors(np.asarray(vectors, dtype=np.float32))
    return payload


def _vectors_out(meta: dict[str, Any], vector: dict[str, Any]) -> dict[str, Any]:
    """`meta` without its packed sentence vectors, which go into `vector` as the SENTENCES multivector."""
    if "sentence_vectors" not in meta:
        return meta
    sentences = _unpacked(meta["sentence_vectors"])
    if sentences:
        vector[SENTENCES] = sentences
    return {k: v for k, v in meta.items() if k != "sentence_vectors"}


def _unpacked(packed: Any) -> list[list[float]]:
    from assistant.models.e5 import unpack_vectors

    return unpack_vectors(packed).tolist() if isinstance(packed, str) and packed else []


def _vector_names(shard_dir: Path) -> set[str]:
    try:
        return set(json.loads((shard_dir / "edge_config.json").read_text(encoding="utf-8")).get("vectors") or {})
    except (OSError, ValueError):
        return set()


def _conditions(conds: list[Condition] | None) -> list[Any]:
    out: list[Any] = []
    for c in conds or []:
        if isinstance(c, Match):
            match = qe.MatchValue(c.values[0]) if len(c.values) == 1 else qe.MatchAny(list(c.values))
            out.append(qe.FieldCondition(key=c.key, match=match))
        elif isinstance(c, Range):
            out.append(qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=c.gte, lte=c.lte)))
    return out
