"""What answers are made of: the draft an answerer writes, the answer a caller gets, and the answerer contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from assistant.storage.records import StoredPassage

if TYPE_CHECKING:
    from assistant.answers.candidates import Context
    from assistant.search.retrieval import EncodedQuery

ABSTAIN_TEMPLATE = "Nei documenti disponibili non ho trovato informazioni su «{topic}»."

# ---------------------------------------------------------------------------------------------- data


@dataclass
class Citation:
    n: int
    doc_id: str
    title: str
    organisation: str
    passage_id: str
    heading: str
    quote: str
    passage: str
    page: int | None = None  # the PDF page the cited passage starts on


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    abstained: bool
    conversation_id: str
    answer_id: str
    confidence: float
    resolved_query: str
    followup: bool = False
    answerer: str = "extractive"
    unsupported: dict[str, Any] | None = None  # the question's constraint no evidence supports, and the near match
    fallback_reason: str | None = None  # why a configured language model's answer was not used
    verification: dict[str, Any] | None = None  # the model's sentences: how many, which were dropped and why
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Draft:
    text: str
    cited: list[tuple[StoredPassage, list[str]]]
    confidence: float
    abstained: bool
    unsupported: dict[str, Any] | None = None
    answerer: str = "extractive"
    fallback: str | None = None
    verification: dict[str, Any] | None = None
    support: list[StoredPassage] = field(default_factory=list)  # passages of answerable sentences, best first


class Answerer(Protocol):
    name: str

    def compose(self, question: str, query: EncodedQuery, evidence: list[StoredPassage], context: Context,
                on_token: Callable[[str], None] | None = None) -> Draft:
        """`on_token`: called with each piece of text as it is written (a model's tokens, unverified)."""
        ...
