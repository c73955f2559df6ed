"""BM25-style sparse vectors (Italian Snowball stems, stopwords removed); Qdrant applies IDF (Modifier.IDF).

Hand-written: Haystack's sparse embedders are learned models (SPLADE/BM42) from a hub; this one is lexical.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import replace

from haystack import Document, component
from haystack.dataclasses import SparseEmbedding

from assistant.core.text import content_stems
from assistant.models.e5 import passage_text


def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def _merge(counts: Counter[str]) -> dict[int, float]:
    merged: dict[int, float] = {}
    for term, value in counts.items():
        idx = term_index(term)
        merged[idx] = merged.get(idx, 0.0) + value
    return merged


def document_vector(text: str, k1: float = 1.2, b: float = 0.75, avgdl: float = 150.0) -> SparseEmbedding:
    """BM25 term-frequency part for a passage; the IDF part is Qdrant's."""
    stems = content_stems(text)
    dl = max(len(stems), 1)
    tf = _merge(Counter(stems))
    norm = k1 * (1 - b + b * dl / avgdl)
    values = {i: (f * (k1 + 1)) / (f + norm) for i, f in tf.items()}
    indices = sorted(values)
    return SparseEmbedding(indices=indices, values=[values[i] for i in indices])


def query_vector(text: str) -> SparseEmbedding:
    tf = _merge(Counter(set(content_stems(text))))
    indices = sorted(tf)
    return SparseEmbedding(indices=indices, values=[1.0 for _ in indices])


@component
class BM25DocumentEncoder:
    """Adds a BM25-style sparse vector to each Document."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, avgdl: float = 150.0) -> None:
        self.k1, self.b, self.avgdl = k1, b, avgdl

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        out = [
            replace(doc, sparse_embedding=document_vector(passage_text(doc), self.k1, self.b, self.avgdl))
            for doc in documents
        ]
        return {"documents": out}
