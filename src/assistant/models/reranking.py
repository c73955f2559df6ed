"""Optional re-ranking of the fused candidates (`ASSISTANT_RERANKER`, off by default; `pip install .[st]`).

- `cross-encoder:<model>`: a sentence-transformers CrossEncoder reads query and passage together, through
  Haystack's `SentenceTransformersSimilarityRanker`.
- `bi-encoder:<model>`: a stronger sentence-transformers embedder re-scores the candidates by cosine similarity
  (passage vectors cached); for a model too slow to embed the whole collection with.
The top `ASSISTANT_RERANK_DEPTH` candidates are re-ordered; the rest keep their fused order after them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Protocol

import numpy as np

from assistant.core.config import Settings


class Reranker(Protocol):
    name: str

    def scores(self, query: str, texts: list[str]) -> list[float]:
        """A relevance score per text, higher is better."""
        ...


class CrossEncoderReranker:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "") -> None:
        from pathlib import Path

        from haystack_integrations.components.rankers.sentence_transformers import SentenceTransformersSimilarityRanker

        local = Path(model).expanduser().exists()
        self.name = f"cross-encoder:{model}"
        self._ranker = SentenceTransformersSimilarityRanker(
            model=str(Path(model).expanduser()) if local else model, top_k=1000, scale_score=False,
            query_prefix=query_prefix, document_prefix=passage_prefix,
            model_kwargs={"local_files_only": True} if local else None)
        self._ranker.warm_up()
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> list[float]:
        from haystack import Document

        if not texts:
            return []
        docs = [Document(id=str(i), content=t) for i, t in enumerate(texts)]
        with self._lock:
            ranked = self._ranker.run(query=query, documents=docs, top_k=len(docs))["documents"]
        by_id = {d.id: float(d.score or 0.0) for d in ranked}
        return [by_id[str(i)] for i in range(len(texts))]


class BiEncoderReranker:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", cache_size: int = 20000,
                 embedder=None) -> None:
        """`embedder`: the model already loaded (a SentenceTransformersEmbedder), if it is."""
        from assistant.models.embedders import SentenceTransformersEmbedder

        self.name = f"bi-encoder:{model}"
        self.embedder = embedder or SentenceTransformersEmbedder(model, query_prefix, passage_prefix)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        with self._lock:
            missing = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._cache]
        if missing:
            vecs = self.embedder.passages([t for _, t in missing])
            with self._lock:
                for (k, _), v in zip(missing, vecs, strict=True):
                    self._cache[k] = v
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
        q = self.embedder.queries([query])[0]
        with self._lock:
            matrix = np.stack([self._cache[k] for k in keys])
        return [float(x) for x in matrix @ q]


@lru_cache(maxsize=2)
def _build(spec: str, query_prefix: str, passage_prefix: str) -> Reranker:
    kind, _, model = spec.partition(":")
    if not model or kind not in ("cross-encoder", "bi-encoder"):
        raise ValueError(f"ASSISTANT_RERANKER must be cross-encoder:<model> or bi-encoder:<model>, not {spec!r}")
    if kind == "cross-encoder":
        return CrossEncoderReranker(model, query_prefix, passage_prefix)
    return BiEncoderReranker(model, query_prefix, passage_prefix)


def reranker_for(settings: Settings) -> Reranker | None:
    if not settings.reranker:
        return None
    return _build(settings.reranker, settings.rerank_query_prefix, settings.rerank_passage_prefix)
