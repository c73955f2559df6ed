"""The staff web app, served by the API process: Cerca, Documento, Chiedi, Gestione, and the login.

Server-rendered Jinja2 pages; htmx swaps the search results and the small forms; two small scripts stream
answers and upload files. Pages use the same services as the API (no HTTP hop), with a session cookie instead
of a bearer key.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import logging
import math
import time
from importlib import resources
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

from assistant.answers.types import Answer
from assistant.core.text import mark_terms
from assistant.services.asking import AnswerStream, StreamView
from assistant.services.container import Services, services
from assistant.services.errors import error_response
from assistant.services.inputs import MAX_QUESTION, clean_text
from assistant.services.uploads import UPLOAD_FIELDS, accept_upload, job_view
from assistant.storage.filters import Filters, norm_key
from assistant.storage.originals import original_of
from assistant.storage.records import DocumentRecord
from assistant.web.access import access, check_csrf, csrf_refused, current, install_handlers, render

log = logging.getLogger("assistant.web")
PAGE_SIZE = 10
FACET_POOL = 50  # the most relevant documents a search shows and counts its filters over

web = APIRouter(include_in_schema=False)


def install(app) -> None:
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=str(resources.files("assistant") / "web" / "static")), name="static")
    app.include_router(access)
    app.include_router(web)
    install_handlers(app)


# ------------------------------------------------------------------------------------------- Cerca


def _multi(request: Request, name: str) -> list[str]:
    return [v.strip()[:200] for v in request.query_params.getlist(name) if v.strip()][:20]


def _year(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) == 4 else None


@web.get("/", response_class=HTMLResponse)
def search_page(request: Request):
    session, fresh = current(request)
    svc: Services = services(request)
    q = request.query_params.get("q", "").strip()[:500]
    orgs, countries, themes, kinds = (_multi(request, n) for n in ("org", "country", "theme", "kind"))
    year_from, year_to = _year(request.query_params.get("year_from")), _year(request.query_params.get("year_to"))
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 1000))
    except ValueError:
        page = 1
    filters = Filters(organisations=orgs or None, countries=countries or None, themes=themes or None,
                      year_from=year_from, year_to=year_to, kinds=kinds or None)
    records = {r.doc_id: r for r in svc.store.documents()}
    if q:
        found = svc.searcher.search(q, k=FACET_POOL, filters=filters).hits
        rows = [(records.get(h.doc_id), h) for h in found]
    else:
        rows = [(r, None) for r in sorted(records.values(), key=lambda r: r.title.lower())
                if _matches(r, orgs, countries, themes, kinds, year_from, year_to)]
    rows = [(r, h) for r, h in rows if r is not None]
    facets = _facets([r for r, _ in rows])
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    state = {"q": q, "org": orgs, "country": countries, "theme": themes, "kind": kinds,
             "year_from": year_from or "", "year_to": year_to or ""}
    context = {"title": f"Cerca: {q}" if q else "Cerca", "q": q, "state": state, "results": shown,
               "total": len(rows), "capped": bool(q) and len(rows) >= FACET_POOL, "page": page, "pages": pages, "facets": facets,
               "has_filters": bool(orgs or countries or themes or kinds or year_from or year_to),
               "page_url": lambda n: "/?" + _query(state, page=n),
               "without": lambda name, value: "/?" + _query(state, drop=(name, value)),
               "doc_url": lambda doc_id, position=None: _doc_url(doc_id, position, q), "fid": _field_id}
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "corpo":
        return render(request, "_corpo.html", context, session, fresh)
    return render(request, "cerca.html", context, session, fresh)


def _field_id(name: str, value: str) -> str:
    """A stable id per filter value: htmx puts the focus back on it after swapping the filters."""
    return f"f-{name}-{hashlib.sha1(value.encode()).hexdigest()[:10]}"


def _matches(r: DocumentRecord, orgs, countries, themes, kinds, year_from, year_to) -> bool:
    """The list without a query filters the registry as a search filters passages (`storage.filters`)."""
    low = lambda xs: {norm_key(x) for x in xs}  # noqa: E731
    if kinds and norm_key(r.source_kind) not in low(kinds):
        return False
    if orgs and norm_key(r.organisation) not in low(orgs):
        return False
    if countries and not low(r.countries) & low(countries):
        return False
    if themes and not low(r.themes) & low(themes):
        return False
    if (year_from or year_to) and not any((year_from or 0) <= y <= (year_to or 9999) for y in r.years):
        return False
    return True


def _facets(records: list[DocumentRecord]) -> dict[str, list[tuple[str, int]]]:
    counts: dict[str, dict[str, int]] = {"org": {}, "country": {}, "theme": {}, "kind": {}, "year": {}}
    for r in records:
        for name, values in (("org", [r.organisation] if r.organisation else []), ("country", r.countries),
                             ("theme", r.themes), ("kind", [r.source_kind] if r.source_kind else []),
                             ("year", [str(y) for y in r.years])):
            for v in set(values):
                counts[name][v] = counts[name].get(v, 0) + 1
    return {name: sorted(c.items(), key=lambda kv: (-kv[1], kv[0].lower()))[:15] for name, c in counts.items()}


def _query(state: dict, page: int | None = None, drop: tuple[str, str] | None = None) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in state.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v in ("", None) or (drop and drop[0] == name and str(v) == drop[1]):
                continue
            pairs.append((name, str(v)))
    if page and page > 1:
        pairs.append(("page", str(page)))
    return urlencode(pairs)


def _doc_url(doc_id: str, position: int | None, q: str = "") -> str:
    params = {k: v for k, v in (("p", position), ("q", q)) if v not in (None, "")}
    anchor = f"#p-{position}" if position is not None else ""
    return f"/documenti/{doc_id}" + (f"?{urlencode(params)}" if params else "") + anchor


# ---------------------------------------------------------------------------------------- Documento


@web.get("/documenti/{doc_id}", response_class=HTMLResponse)
def document_page(request: Request, doc_id: str, p: int | None = None, q: str = ""):
    session, fresh = current(request)
    svc: Services = services(request)
    record = svc.store.get(doc_id)
    if record is None:
        return render(request, "errore.html", {"title": "Documento non trovato",
                                                 "message": f"Il documento «{doc_id}» non è nell'indice."},
                       session, fresh, status=404)
    q = q.strip()[:500]
    passages = [{"position": s.position, "heading": s.meta.get("heading", ""),
                 "html": mark_terms(s.content, q) if q and s.position == p else html.escape(s.content),
                 "hit": s.position == p} for s in svc.store.passages_of(doc_id)]
    original = original_of(svc.uploads, record)
    return render(request, "documento.html", {"title": record.title or doc_id, "doc": record,
                                               "passages": passages, "hit": p, "q": q,
                                               "original": original.name if original else None,
                                               "updated": time.strftime("%d/%m/%Y %H:%M",
                                                                        time.localtime(record.updated_at))},
                   session, fresh)


@web.get("/documenti/{doc_id}/originale")
def document_original(request: Request, doc_id: str):
    current(request)
    svc: Services = services(request)
    record = svc.store.get(doc_id)
    path = original_of(svc.uploads, record)
    if path is None:
        return error_response(404, "File originale non disponibile.")
    # A download, never a page: an uploaded .html must not run in the app's origin, whatever the browser.
    return FileResponse(path, filename=record.source_path.removeprefix("upload:") or path.name,
                        media_type="application/octet-stream", content_disposition_type="attachment")


# ------------------------------------------------------------------------------------------- Chiedi


@web.get("/chiedi", response_class=HTMLResponse)
def ask_page(request: Request):
    session, fresh = current(request)
    return render(request, "chiedi.html", {"title": "Chiedi"}, session, fresh)


@web.post("/chiedi/stream")
async def ask_stream(request: Request):
    """The answer as Server-Sent Events, the stream of /v1/ask/stream (draft…, meta, delta…, citations, done); JSON body
    {question, conversation_id?}; the CSRF token in the X-CSRF-Token header."""
    session, _ = current(request)
    if not check_csrf(request, session):
        return csrf_refused()
    try:
        body = json.loads(await request.body() or b"{}")
        question = str(body.get("question", "")).strip()
        cid = body.get("conversation_id") or None
    except (ValueError, AttributeError):
        question, cid = "", None
    try:
        question = clean_text(question, "la domanda").strip()
    except ValueError as exc:
        return error_response(422, f"{exc}.")
    if not question or len(question) > MAX_QUESTION:
        message = "Scrivi una domanda." if not question else f"La domanda supera i {MAX_QUESTION} caratteri."
        return error_response(422, message)
    stream = AnswerStream(services(request), question, str(cid)[:128] if cid else None, None, session.caller,
                          _stream_view)
    await stream.start()  # failing before any byte is sent, it gets the app's usual error response
    return StreamingResponse(stream.events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# The page shows each source as a link to the passage in its document, and the answer's text when it is done.
def _stream_view(a: Answer) -> StreamView:
    return StreamView(
        meta={"conversation_id": a.conversation_id, "answer_id": a.answer_id, "abstained": a.abstained,
              "searched": a.resolved_query},
        citations=[{"n": c.n, "title": c.title or c.doc_id, "organisation": c.organisation, "quote": c.quote,
                    "page": c.page, "url": _doc_url(c.doc_id, int(c.passage_id.rsplit("#", 1)[1]))}
                   for c in a.citations],
        done={"answer": a.answer, "abstained": a.abstained})


@web.post("/chiedi/voto", response_class=HTMLResponse)
def vote(request: Request, answer_id: Annotated[str, Form(max_length=64)], rating: Annotated[str, Form()],
         csrf: Annotated[str, Form()] = ""):
    session, _ = current(request)
    if not check_csrf(request, session, csrf):
        return csrf_refused()
    svc: Services = services(request)
    if rating not in ("up", "down") or not svc.feedback.has_answer(answer_id):
        return HTMLResponse('<p class="nota" role="status">Risposta non più disponibile.</p>')
    svc.feedback.add(answer_id, rating, None, caller=session.caller)
    return HTMLResponse('<p class="nota" role="status">Grazie per il riscontro!</p>')


@web.post("/chiedi/nuova")
def new_conversation(request: Request):
    session, _ = current(request)
    if not check_csrf(request, session):
        return csrf_refused()
    cid = request.query_params.get("c", "")[:128]
    if cid:
        services(request).asker.conversations.reset(cid, session.caller)
    return JSONResponse({"ok": True})


# ----------------------------------------------------------------------------------------- Gestione


@web.get("/gestione", response_class=HTMLResponse)
def admin_page(request: Request):
    session, fresh = current(request, need_admin=True)
    svc: Services = services(request)
    docs = sorted(svc.store.documents(), key=lambda r: -r.updated_at)
    total, feedback = svc.feedback.list(50, 0)
    last = max((r.updated_at for r in docs), default=0)
    status = {"documents": len(docs), "passages": sum(r.passages for r in docs),
              "updated": time.strftime("%d/%m/%Y %H:%M", time.localtime(last)) if last else "—"}
    return render(request, "gestione.html", {
        "title": "Gestione", "docs": docs, "feedback": feedback, "feedback_total": total, "status": status,
        "max_mb": svc.settings.max_upload_mb,
        "fmt_time": lambda t: time.strftime("%d/%m/%Y %H:%M", time.localtime(t))}, session, fresh)


@web.post("/gestione/carica")
async def admin_upload(request: Request):
    """One file per request (the page sends each file on its own, with its own progress); the same checks
    and job as POST /v1/documents."""
    session, _ = current(request, need_admin=True)
    if not check_csrf(request, session):
        return csrf_refused()
    svc: Services = services(request)
    form = await request.form(max_files=1, max_fields=20)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return error_response(422, "Nessun file scelto.")
    limit = int(svc.settings.max_upload_mb * 1024 * 1024)
    data = await upload.read(limit + 1)
    fields = {k: (str(form.get(k)) or None) if form.get(k) is not None else None for k in UPLOAD_FIELDS}
    for key, cap in UPLOAD_FIELDS.items():
        if fields[key] and len(fields[key]) > cap:
            return error_response(422, f"Il campo {key} supera i {cap} caratteri.")
    replace = str(form.get("replace", "")).lower() in ("true", "1", "on")
    return await run_in_threadpool(accept_upload, svc, session.caller, upload.filename or "", data, fields, replace,
                                   upload.content_type)


@web.get("/gestione/lavori/{job_id}")
def admin_job(request: Request, job_id: str):
    session, _ = current(request, need_admin=True)
    job = services(request).jobs.get(job_id)
    if job is None or job.owner != session.caller:
        return error_response(404, "Caricamento non trovato.")
    return JSONResponse(job_view(job))


@web.post("/gestione/elimina/{doc_id}", response_class=HTMLResponse)
def admin_delete(request: Request, doc_id: str, csrf: Annotated[str, Form()] = ""):
    session, _ = current(request, need_admin=True)
    if not check_csrf(request, session, csrf):
        return csrf_refused()
    svc: Services = services(request)
    if not svc.delete_document(doc_id):
        return HTMLResponse(f'<td colspan="5" role="status">Documento «{html.escape(doc_id)}» già rimosso.</td>')
    log.info("web_deleted", extra={"fields": {"doc_id": doc_id}})
    return HTMLResponse(f'<td colspan="5" role="status">Documento «{html.escape(doc_id)}» eliminato.</td>')


def csv_cell(text: str | None) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP's CSV injection advice): one that
    starts with = + - @, a tab or a carriage return gets a leading apostrophe."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@web.get("/gestione/riscontri.csv")
def feedback_csv(request: Request):
    current(request, need_admin=True)
    total, rows = services(request).feedback.list(100_000, 0)
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "answer_id", "voto", "commento", "data", "domanda", "risposta"])
    for r in rows:
        writer.writerow([r.id, r.answer_id, r.rating, csv_cell(r.comment), time.strftime("%Y-%m-%d %H:%M",
                         time.localtime(r.created_at)), csv_cell(r.question), csv_cell(r.answer)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="riscontri.csv"'})
