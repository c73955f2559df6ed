"""What the Store asks of an engine, in engine-neutral terms."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from haystack import Document

Mode = Literal["hybrid", "dense", "sparse"]
DENSE = "text-dense"
SPARSE = "text-sparse"


# What a search hit needs: everything but a passage's sentences, their vectors and its document's opening, which
# make up most of a payload (Qdrant Edge's Exclude selector is several times slower than Include).
LIGHT_PAYLOAD = ["id", "content"] + [f"meta.{k}" for k in (
    "doc_id", "version", "position", "title", "heading", "organisation", "org_key", "source_kind", "source_path",
    "countries", "country_keys", "themes", "theme_keys", "year", "dates", "page")]


IN_USE = "the embedded store is open in another process (stop the API or point QDRANT_URL at a server)"


class EngineUnavailable(RuntimeError):
    """The engine cannot be reached or opened."""


def describe(exc: BaseException) -> str:
    """One line for an engine error; qdrant-client local mode's "already accessed" becomes IN_USE."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "already accessed by another instance" in text:
        return IN_USE
    return text[:300]


@dataclass(frozen=True)
class Match:
    """A payload field equal to any of `values` (a keyword or integer field)."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class Range:
    """An integer payload field within [gte, lte] (either bound optional)."""

    key: str
    gte: int | None = None
    lte: int | None = None


Condition = Match | Range


@dataclass
class Hit:
    id: str  # the point id (see point_id)
    score: float
    payload: dict[str, Any]


# qdrant-haystack's namespace: both engines give a passage the point id that its Haystack writer would.
_NAMESPACE = uuid.UUID("3896d314-1e95-4a3a-b45a-945f9f0b541d").bytes


def point_id(passage_id: str) -> str:
    """A passage's point id: uuid5 of its document-store id, as qdrant-haystack's `convert_id` makes it (computed
    here without building UUID objects: the store maps every live passage's point id when it opens)."""
    h = bytearray(hashlib.sha1(_NAMESPACE + passage_id.encode("utf-8")).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


class Engine(Protocol):
    """Passages (a dense and a sparse vector each, payload {"id", "content", "meta"}) and document records (one
    payload per document id). Payload fields used in conditions are indexed: meta.doc_id, meta.version,
    meta.org_key, meta.country_keys, meta.theme_keys (keywords) and meta.year (integer)."""

    name: str
    shared: bool  # other processes may write to it (a server): the registry cache must look for their commits

    def write_passages(self, documents: list[Document]) -> None: ...

    def delete_passages(self, must: list[Condition], must_not: list[Condition]) -> None: ...

    def set_passage_meta(self, passage_ids: list[str], fields: dict[str, Any]) -> None:
        """Set fields of the `meta` payload of passages, by their document-store ids ("doc:version:position")."""
        ...

    def scroll_passages(self, fields: list[str] | bool, must: list[Condition] | None = None,
                        ) -> Iterator[dict[str, Any]]: ...

    def count_passages(self) -> int: ...

    def query(self, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None,
              mode: Literal["dense", "sparse"], limit: int, must: list[Condition],
              sentence_vectors: bool = False, with_payload: bool = True) -> list[Hit]:
        """One list, dense or sparse (the store fuses them). Payloads are LIGHT_PAYLOAD's fields unless
        `sentence_vectors` (then whole, sentences and vectors too); none at all without `with_payload`."""
        ...

    def payloads(self, point_ids: list[str], sentence_vectors: bool = False) -> dict[str, dict[str, Any]]:
        """Payloads of passages by point id, as `query` gives them; ids not found are left out."""
        ...

    def put_record(self, key: str, payload: dict[str, Any]) -> None: ...

    def delete_record(self, key: str) -> None: ...

    def records(self) -> Iterator[dict[str, Any]]: ...

    def optimize(self, searches: AbstractContextManager[Any]) -> bool:
        """Refresh indexes after a batch of writes; holding `searches` (the store's lock) holds them for the
        short moment an engine needs that. Returns whether anything changed."""
        ...

    def upgrade_layout(self, progress: bool = True) -> int:
        """Rewrite passages stored in an earlier layout into the current one (offline); returns how many."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
