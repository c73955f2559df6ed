"""API routes: health, search, ask (plain and SSE), documents, feedback, conversations."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from assistant.answers.types import Answer
from assistant.api.convert import answer_out, document_out, filters_from, hit_out, job_out
from assistant.api.deps import AdminRole, ReadRole
from assistant.api.models import (
    AskRequest,
    AskResponse,
    DeletedOut,
    DocumentDetail,
    DocumentList,
    ErrorResponse,
    FeedbackCreated,
    FeedbackList,
    FeedbackOut,
    FeedbackRequest,
    ForgottenOut,
    HealthOut,
    JobOut,
    ReadyOut,
    SearchRequest,
    SearchResponse,
    WireBool,
)
from assistant.services.asking import AnswerStream, StreamView, ask_and_record
from assistant.services.container import ServicesDep, services
from assistant.services.uploads import UPLOAD_FIELDS, YEARS, accept_upload
from assistant.storage.records import StoreUnavailable

log = logging.getLogger("assistant.api")
MAX_OFFSET = 1_000_000  # list offsets: far past any real list, well inside SQLite's 64-bit integers


def _event(name: str, data: dict) -> dict:
    return {"type": "object", "required": ["event", "data"], "properties": {
        "event": {"const": name}, "data": {"type": "string", "contentMediaType": "application/json",
                                          "contentSchema": data}}}


_TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
# One event of /v1/ask/stream: its name, and its data as JSON of the shape each name carries.
SSE_EVENT = {"oneOf": [
    _event("draft", _TEXT),
    _event("meta", {"type": "object", "required": ["conversation_id", "answer_id", "abstained", "answerer"],
                    "properties": {"conversation_id": {"type": "string"}, "answer_id": {"type": "string"},
                                   "abstained": {"type": "boolean"}, "answerer": {"type": "string"}}}),
    _event("delta", _TEXT),
    _event("citations", {"type": "object", "required": ["citations"], "properties": {
        "citations": {"type": "array", "items": {"$ref": "#/components/schemas/CitationOut"}}}}),
    _event("done", {"$ref": "#/components/schemas/AskResponse"}),
    _event("error", {"$ref": "#/components/schemas/ErrorBody"}),
]}
NOT_FOUND = {404: {"model": ErrorResponse, "description": "Not found"}}

# The errors every operation can meet (checks before the body, rate limit, store down…) are declared for all of
# them by api/openapi.py; each route declares only its own.
health = APIRouter(tags=["health"])
v1 = APIRouter(prefix="/v1")


@health.get("/healthz", summary="Process is up", response_model=HealthOut)
def healthz() -> dict:
    return {"status": "ok"}


@health.get("/readyz", summary="Store reachable and embedding model loaded", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    try:
        svc = services(request)
    except StoreUnavailable as exc:
        return JSONResponse({"status": "not_ready", "store": False, "model": False, "reason": str(exc)},
                            status_code=503)
    store_ok = svc.store.ping()
    model_ok = svc.model_ready
    status = 200 if store_ok and model_ok else 503
    settings = svc.settings
    # A language model is optional: when it is down, answers fall back to extractive, so readiness does not wait.
    llm = {"enabled": bool(settings.llm_url), "model": settings.llm_model if settings.llm_url else None,
           "url": _without_credentials(settings.llm_url) if settings.llm_url else None}
    return JSONResponse({"status": "ready" if status == 200 else "not_ready", "store": store_ok, "model": model_ok,
                         "documents": len(svc.store.documents()) if store_ok else None, "llm": llm},
                        status_code=status)


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@v1.post("/search", response_model=SearchResponse, dependencies=[ReadRole], tags=["search"],
         summary="Hybrid search, results grouped per document")
def search(req: SearchRequest, svc: ServicesDep) -> Response:
    page = svc.searcher.search(req.query, k=req.k, offset=req.offset, mode=req.mode,
                               filters=filters_from(req.filters), per_document=req.per_document)
    out = SearchResponse(query=req.query, total=page.total, k=req.k, offset=req.offset,
                         results=[hit_out(h) for h in page.hits])
    # Built and checked once here: FastAPI would validate the model again before encoding it (about 1 ms for a
    # page of ten results with their passages).
    return Response(out.model_dump_json(), media_type="application/json")


def _caller(request: Request) -> str:
    return getattr(request.state, "caller", "")


@v1.post("/ask", response_model=AskResponse, dependencies=[ReadRole], tags=["ask"],
         summary="Answer a question from the documents, with numbered citations")
def ask(req: AskRequest, svc: ServicesDep, request: Request) -> AskResponse:
    return answer_out(ask_and_record(svc, req.question, req.conversation_id, filters_from(req.filters),
                                     _caller(request)))


@v1.post("/ask/stream", dependencies=[ReadRole], tags=["ask"], response_class=StreamingResponse,
         responses={200: {"description": "Server-Sent Events", "content": {"text/event-stream": {
             "schema": SSE_EVENT}}}},
         summary="Same as /v1/ask, as Server-Sent Events: `draft`* (a language model's text as it is written, "
                 "not yet verified), then `meta`, `delta`*, `citations`, `done` (the verified answer)")
async def ask_stream(req: AskRequest, svc: ServicesDep, request: Request) -> StreamingResponse:
    stream = AnswerStream(svc, req.question, req.conversation_id, filters_from(req.filters), _caller(request),
                          _stream_view)
    await stream.start()  # an answer that fails before any byte is sent gets the usual JSON error
    return StreamingResponse(stream.events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _stream_view(a: Answer) -> StreamView:
    done = answer_out(a).model_dump()
    return StreamView(meta={"conversation_id": a.conversation_id, "answer_id": a.answer_id,
                            "abstained": a.abstained, "answerer": a.answerer},
                      citations=done["citations"], done=done)


@v1.delete("/conversations/{conversation_id}", dependencies=[ReadRole], tags=["ask"], response_model=ForgottenOut,
           responses=NOT_FOUND, summary="Forget one of the caller's conversations")
def forget(conversation_id: str, svc: ServicesDep, request: Request) -> dict:
    if not svc.asker.conversations.reset(conversation_id, _caller(request)):
        raise HTTPException(404, "Conversazione non trovata (scaduta, o di un altro utente).")
    return {"conversation_id": conversation_id, "forgotten": True}


@v1.get("/documents", response_model=DocumentList, dependencies=[ReadRole], tags=["documents"])
def list_documents(svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> DocumentList:
    docs = svc.store.documents()
    return DocumentList(total=len(docs), limit=limit, offset=offset,
                        documents=[document_out(d) for d in docs[offset : offset + limit]])


@v1.get("/documents/{doc_id}", response_model=DocumentDetail, dependencies=[ReadRole], tags=["documents"],
        responses=NOT_FOUND)
def get_document(doc_id: str, svc: ServicesDep) -> DocumentDetail:
    rec = svc.store.get(doc_id)
    if rec is None:
        raise HTTPException(404, f"Documento '{doc_id}' non trovato.")
    texts = [p.content for p in svc.store.passages_of(doc_id)]
    return DocumentDetail(**document_out(rec).model_dump(), passage_texts=texts)


@v1.post("/documents", response_model=JobOut, status_code=202, dependencies=[AdminRole],
         tags=["documents"], responses={409: {"model": ErrorResponse, "description": "The id is another document's"}},
         summary="Upload one file (.txt .md .html .pdf .docx); it is indexed in the background: poll the job",
         description="Every well-formed upload answers 202 with its job. A file that fails the quick checks "
                     "(unsupported type, empty, unreadable, expanding past the limits) gets a job that is already "
                     "`failed`, with `error.status` 415, 422 or 413 and the reason in Italian; the others are "
                     "indexed in the background: poll `GET /v1/jobs/{id}`. A file without an extension is typed "
                     "by its content.")
def upload_document(
    svc: ServicesDep,
    request: Request,
    # format: binary beside 3.1's contentMediaType: any bytes are a file (generators and older clients read it)
    file: Annotated[UploadFile, File(json_schema_extra={"format": "binary"})],
    # The metadata rides in the query, the multipart body holds the file alone: a generated client (or a fuzzer)
    # then types each field exactly, where form text fields cannot be told from a number or a flag.
    title: Annotated[str, Query(max_length=UPLOAD_FIELDS["title"])] = "",
    organisation: Annotated[str, Query(max_length=UPLOAD_FIELDS["organisation"])] = "",
    source_kind: Annotated[str, Query(max_length=UPLOAD_FIELDS["source_kind"],
                                      description="e.g. bando, delibera, scheda progetto, pagina web")] = "",
    countries: Annotated[str, Query(max_length=UPLOAD_FIELDS["countries"], description="comma-separated")] = "",
    themes: Annotated[str, Query(max_length=UPLOAD_FIELDS["themes"], description="comma-separated")] = "",
    years: Annotated[str, Query(max_length=UPLOAD_FIELDS["years"], json_schema_extra={"pattern": YEARS},
                                description="comma-separated, e.g. 2021,2022")] = "",
    replace: Annotated[WireBool, Query(description="replace a document with the same id from another source")] = False,
):
    limit = int(svc.settings.max_upload_mb * 1024 * 1024)
    data = file.file.read(limit + 1)
    return accept_upload(svc, _caller(request), file.filename or "", data,
                         dict(title=title, organisation=organisation, source_kind=source_kind, countries=countries,
                              themes=themes, years=years), replace, file.content_type)


@v1.get("/jobs/{job_id}", response_model=JobOut, dependencies=[AdminRole], tags=["documents"], responses=NOT_FOUND,
        summary="State of an upload: queued, running (with its stage), done (with the document) or failed")
def get_job(job_id: str, svc: ServicesDep, request: Request) -> JobOut:
    job = svc.jobs.get(job_id)
    if job is None or job.owner != _caller(request):
        raise HTTPException(404, "Caricamento non trovato.")
    return job_out(job)


@v1.delete("/documents/{doc_id}", dependencies=[AdminRole], tags=["documents"], response_model=DeletedOut,
           responses=NOT_FOUND)
def delete_document(doc_id: str, svc: ServicesDep) -> dict:
    if not svc.delete_document(doc_id):
        raise HTTPException(404, f"Documento '{doc_id}' non trovato.")
    log.info("deleted", extra={"fields": {"doc_id": doc_id}})
    return {"doc_id": doc_id, "deleted": True}


@v1.post("/feedback", status_code=201, dependencies=[ReadRole], tags=["feedback"], response_model=FeedbackCreated,
         responses=NOT_FOUND)
def add_feedback(req: FeedbackRequest, svc: ServicesDep, request: Request) -> dict:
    if not svc.feedback.has_answer(req.answer_id):
        raise HTTPException(404, f"Risposta '{req.answer_id}' non trovata (o più vecchia del periodo di "
                                 "conservazione).")
    fid = svc.feedback.add(req.answer_id, req.rating, req.comment, caller=_caller(request))
    return {"id": fid, "answer_id": req.answer_id, "rating": req.rating}


@v1.get("/feedback", response_model=FeedbackList, dependencies=[AdminRole], tags=["feedback"])
def list_feedback(svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> FeedbackList:
    total, rows = svc.feedback.list(limit, offset)
    return FeedbackList(total=total, items=[FeedbackOut(**r.__dict__) for r in rows])
