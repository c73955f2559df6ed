"""Request and response models of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic import Strict as StrictFlag

from assistant.services.inputs import MAX_QUESTION, NON_BLANK, clean_text, non_blank


class Strict(BaseModel):
    """A request body: unknown fields refused; its numbers and flags use Int and Bool, which coerce nothing
    (0 is not false, "5" is not 5), so what the schema says is invalid is refused."""

    model_config = ConfigDict(extra="forbid")


def _json_int(value: object) -> object:
    """JSON Schema's integer: 5 and 5.0, not "5" nor true (pydantic's lax mode takes both, strict refuses 5.0)."""
    if isinstance(value, (bool, str)):
        raise ValueError("deve essere un numero intero")
    return value


def json_int(**bounds) -> object:
    """An Int with bounds; the bounds must come before the validator for pydantic to write them as JSON Schema
    minimum/maximum (after it, they leak as raw ge/le inside a union)."""
    return Annotated[int, Field(**bounds), BeforeValidator(_json_int)]


Int = Annotated[int, BeforeValidator(_json_int)]
Bool = Annotated[bool, StrictFlag()]


def _wire_bool(value: object) -> object:
    """A query or form boolean: exactly "true" or "false", as JSON writes it (not 1, "on", "yes")."""
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("deve essere true o false")
        return value == "true"
    return value


WireBool = Annotated[bool, BeforeValidator(_wire_bool)]


Name = Annotated[str, StringConstraints(max_length=200)]



class SearchFilters(Strict):
    organisation: Annotated[list[Name], Field(max_length=20)] | Name | None = Field(
        default=None, description="Organisation name(s), case-insensitive")
    document_ids: Annotated[list[Name], Field(max_length=100)] | None = None
    country: Annotated[list[Name], Field(max_length=20)] | Name | None = None
    theme: Annotated[list[Name], Field(max_length=20)] | Name | None = None
    year_from: json_int(ge=1000, le=3000) | None = None  # type: ignore[valid-type]
    year_to: json_int(ge=1000, le=3000) | None = None  # type: ignore[valid-type]
    kind: Annotated[list[Name], Field(max_length=20)] | Name | None = Field(
        default=None, description="Document kind(s), case-insensitive: e.g. bando, delibera, scheda progetto")


class SearchRequest(Strict):
    query: str = Field(min_length=1, max_length=MAX_QUESTION, json_schema_extra={"pattern": NON_BLANK},
                       description="words or a question; not only blanks")
    k: Int = Field(default=10, ge=1, le=50)
    offset: Int = Field(default=0, ge=0, le=1000)
    filters: SearchFilters | None = None
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    per_document: Bool = True

    @field_validator("query")
    @classmethod
    def not_blank(cls, v: str) -> str:
        return non_blank(v, "la ricerca")


class PassageOut(BaseModel):
    passage_id: str
    position: int
    heading: str
    score: float
    text: str
    highlighted: str = Field(description="the passage, HTML-escaped, query words in <mark>")
    snippet: str = Field(description="~300 characters around the best match, HTML-escaped, words in <mark>")


class SearchHitOut(BaseModel):
    doc_id: str
    title: str
    organisation: str
    score: float
    passage: PassageOut
    other_passages: list[PassageOut] = []


class SearchResponse(BaseModel):
    query: str
    total: int
    k: int
    offset: int
    results: list[SearchHitOut]


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION, json_schema_extra={"pattern": NON_BLANK},
                          description="the question; not only blanks")
    conversation_id: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    filters: SearchFilters | None = None

    @field_validator("question")
    @classmethod
    def question_ok(cls, v: str) -> str:
        return non_blank(v, "la domanda")


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    organisation: str
    passage_id: str
    heading: str
    quote: str
    passage: str
    page: int | None = Field(default=None, description="the PDF page the cited passage starts on (PDFs only)")


class ConstraintOut(BaseModel):
    kind: str = Field(description="place | organisation | name | year | role")
    value: str = Field(description="as the question names it")


class NearMatchOut(BaseModel):
    doc_id: str
    title: str
    values: list[str] = Field(description="what the nearest document holds instead (its places, years, institutions)")


class DroppedSentenceOut(BaseModel):
    sentence: str
    reason: str = Field(description="uncited | unknown_source | number | name")
    detail: list[str] = Field(description="the numbers, names or source numbers not found in the cited passage")


class VerificationOut(BaseModel):
    """What happened to a language model's sentences."""

    generated: int
    dropped: list[DroppedSentenceOut]
    seconds: float


class UnsupportedOut(BaseModel):
    """Why the answer abstained: a constraint of the question that no evidence supports."""

    constraint: ConstraintOut
    near: NearMatchOut


class AskResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    abstained: bool
    conversation_id: str
    answer_id: str
    confidence: float
    followup: bool
    answerer: str = Field(default="extractive", description="which answerer produced the answer: extractive | llm")
    fallback_reason: str | None = Field(
        default=None, description="set when a language model is configured but its answer was not used: timeout, "
                                  "error, http_NNN, empty, model_declined, unverified (no sentence passed the check)")
    verification: VerificationOut | None = Field(
        default=None, description="the language model's sentences: how many it wrote, which were dropped and why")
    unsupported: UnsupportedOut | None = Field(
        default=None, description="set when the answer abstained because a place, organisation, name, year or role "
                                  "of the question is not in the evidence")


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    organisation: str
    source_kind: str
    source_path: str
    dates: list[str]
    countries: list[str]
    themes: list[str]
    years: list[int]
    passages: int
    updated_at: float
    sentence_vectors: bool = Field(description="Its sentences have e5 vectors (added in the background after "
                                               "indexing); until then answers from it use the lexical selector")


class DocumentDetail(DocumentOut):
    passage_texts: list[str]


class DocumentList(BaseModel):
    total: int
    limit: int
    offset: int
    documents: list[DocumentOut]


class UploadResponse(BaseModel):
    document: DocumentOut
    changed: bool


class JobError(BaseModel):
    status: int = Field(description="the HTTP status the upload would have had: 413 too large, 422 unreadable")
    message: str


class JobOut(BaseModel):
    """An upload being indexed: poll `GET /v1/jobs/{id}` until `state` is `done` or `failed`."""

    id: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str = Field(description="in coda | conversione | indicizzazione | scrittura | completato | errore")
    file: str
    doc_id: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    document: DocumentOut | None = None
    changed: bool | None = None
    error: JobError | None = None


class FeedbackRequest(Strict):
    answer_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("comment")
    @classmethod
    def comment_ok(cls, v: str | None) -> str | None:
        return None if v is None else clean_text(v, "il commento")


class FeedbackOut(BaseModel):
    id: int
    answer_id: str
    rating: str
    comment: str | None
    created_at: float
    question: str | None
    answer: str | None


class FeedbackList(BaseModel):
    total: int
    items: list[FeedbackOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthOut(BaseModel):
    status: Literal["ok"]


class LlmStatus(BaseModel):
    enabled: bool
    model: str | None
    url: str | None = Field(description="the model server's address, without credentials")


class ReadyOut(BaseModel):
    """200 when the store answers and the embedding model is loaded, else 503 with the same shape."""

    status: Literal["ready", "not_ready"]
    store: bool
    model: bool
    documents: int | None = None
    llm: LlmStatus | None = None
    reason: str | None = Field(default=None, description="why the store could not be opened")


class ForgottenOut(BaseModel):
    conversation_id: str
    forgotten: Literal[True]


class DeletedOut(BaseModel):
    doc_id: str
    deleted: Literal[True]


class FeedbackCreated(BaseModel):
    id: int
    answer_id: str
    rating: Literal["up", "down"]
