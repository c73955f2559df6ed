"""Mapping between core objects and API models."""

from __future__ import annotations

from dataclasses import asdict

from assistant.answers.types import Answer
from assistant.api.models import AskResponse, DocumentOut, JobOut, PassageOut, SearchFilters, SearchHitOut
from assistant.search.retrieval import Hit
from assistant.services.jobs import Job
from assistant.services.uploads import job_view
from assistant.storage.filters import Filters
from assistant.storage.records import DocumentRecord


def _as_list(v: list[str] | str | None) -> list[str] | None:
    if v is None:
        return None
    return [v] if isinstance(v, str) else list(v)


def filters_from(f: SearchFilters | None) -> Filters | None:
    if f is None:
        return None
    return Filters(organisations=_as_list(f.organisation), doc_ids=f.document_ids, countries=_as_list(f.country),
                   themes=_as_list(f.theme), year_from=f.year_from, year_to=f.year_to, kinds=_as_list(f.kind))


def passage_out(h: Hit) -> PassageOut:
    return PassageOut(passage_id=h.passage_id, position=h.position, heading=h.heading, score=h.score, text=h.text,
                      highlighted=h.highlighted, snippet=h.snippet)


def hit_out(h: Hit) -> SearchHitOut:
    return SearchHitOut(doc_id=h.doc_id, title=h.title, organisation=h.organisation, score=h.score,
                        passage=passage_out(h), other_passages=[passage_out(x) for x in h.more_passages])


def document_out(r: DocumentRecord) -> DocumentOut:
    data = asdict(r)
    return DocumentOut(**{k: data[k] for k in DocumentOut.model_fields})


def answer_out(a: Answer) -> AskResponse:
    data = a.to_dict()
    return AskResponse(**{k: data[k] for k in AskResponse.model_fields})


def job_out(j: Job) -> JobOut:
    return JobOut.model_validate(job_view(j))
