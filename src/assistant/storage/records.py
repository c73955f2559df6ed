"""What the store holds and hands out: document records, ranked and stored passages, their ids, its errors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from assistant.models.embedders import EmbedderIdentity

_NS = uuid.UUID("7d0f3f55-54c8-4a8e-9a32-6f0c1a2b9e11")


class StoreUnavailable(RuntimeError):
    """The Qdrant store cannot be reached or opened."""


class EmbedderMismatch(StoreUnavailable):
    """The store was built by another embedder than the configured one."""

    def __init__(self, built: EmbedderIdentity, configured: EmbedderIdentity) -> None:
        self.built, self.configured = built, configured
        super().__init__(
            f"L'indice è stato costruito con {built.describe()}, ma il modello configurato è "
            f"{configured.describe()}: i vettori di due modelli non si possono mescolare. Ricostruisci l'indice "
            "con `assistant reindex` (il vecchio resta in uso finché il nuovo non è completo), oppure torna al "
            "modello di prima.")


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
    sentence_vectors: bool = False  # its passages carry e5 vectors of their sentences (added after the commit)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DocumentRecord:
        known = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Ranked:
    point_id: str
    doc_id: str
    position: int
    score: float


@dataclass
class StoredPassage:
    doc_id: str
    version: str
    position: int
    content: str
    meta: dict[str, Any]
    score: float


def passage_id(doc_id: str, version: str, position: int) -> str:
    """A passage's document-store id: one per document version and position."""
    return f"{doc_id}:{version}:{position}"


def record_id(doc_id: str) -> str:
    return str(uuid.uuid5(_NS, doc_id))
