"""Uploads, as the API and the web app's Gestione page take them: quick checks now, indexing as a background job."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse

from assistant.services.container import load_failure
from assistant.services.errors import error_response
from assistant.services.jobs import Job, QueueFull

log = logging.getLogger("assistant.services")
# Upload metadata "years": four-digit years separated by commas (spaces and empty items allowed).
YEARS = r"^[ \t\r\n,]*(?:[0-9]{4}(?:[ \t\r\n]*,[ \t\r\n,]*[0-9]{4})*)?[ \t\r\n,]*$"

# An upload's metadata fields and their longest value, for the API form and the web app's Gestione page.
UPLOAD_FIELDS = {"title": 300, "organisation": 200, "source_kind": 100, "countries": 500, "themes": 500, "years": 200}


def accept_upload(svc, caller: str, filename: str, data: bytes, fields: dict, replace: bool,
                  content_type: str | None = None) -> JSONResponse:
    """Every well-formed upload becomes a job (202): one whose file fails the quick checks (type, bombs,
    mislabelled or empty content) is born failed, so this response already says why, in Italian; the others
    are indexed in the background. What the request itself gets wrong is refused at once: metadata (422), size
    (413), an id taken by another document (409), a full queue (429). Shared by the API and the Gestione page."""
    from ingest.loading import LoadError, precheck, safe_doc_id, with_kind

    limit = int(svc.settings.max_upload_mb * 1024 * 1024)
    if len(data) > limit:
        return error_response(413, f"Il file supera il limite di {svc.settings.max_upload_mb:g} MB.")
    meta = _upload_meta(**fields)
    if isinstance(meta, JSONResponse):
        return meta
    name = with_kind(Path(filename.replace("\\", "/")).name, data, content_type)
    try:
        doc_id = safe_doc_id(name)
    except LoadError:  # a name of symbols only: the content names the document
        doc_id = "documento-" + hashlib.sha256(data).hexdigest()[:10]
        name = doc_id + Path(name).suffix
    current = svc.store.get(doc_id)
    source = f"upload:{name}"
    if current is not None and current.source_path != source and not replace:
        return error_response(409, f"Esiste già il documento '{doc_id}' (da {current.source_path}): per "
                                   "sostituirlo ricarica il file con replace=true, oppure rinominalo.")
    try:
        precheck(data, name, svc.ingestor.limits)  # bombs and mislabelled files fail now, not in the queue
    except LoadError as exc:
        job = svc.jobs.failed(name, doc_id, caller, load_failure(exc))
        log.info("upload_refused", extra={"fields": {"job": job.id, "doc_id": doc_id, "status": job.error[0],
                                                     "reason": str(exc)}})
        return _accepted(job)
    try:
        job = svc.jobs.submit(name, doc_id, caller, data, {"meta": meta, "source": source})
    except QueueFull:
        return error_response(429, "Troppi caricamenti in coda: riprova tra qualche minuto.",
                              headers={"Retry-After": "30"})
    log.info("upload_queued", extra={"fields": {"job": job.id, "doc_id": doc_id, "bytes": len(data)}})
    return _accepted(job)


def _accepted(job) -> JSONResponse:
    return JSONResponse(job_view(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _upload_meta(title, organisation, source_kind, countries, themes, years) -> dict | JSONResponse:
    """The optional form fields, in the shape of corpus/metadata.json."""
    def items(raw: str | None) -> list[str]:
        return [x.strip() for x in (raw or "").split(",") if x.strip()]

    if years is not None and not re.fullmatch(YEARS, years):
        return error_response(422, "Anni non validi: usa numeri separati da virgole, per esempio 2021,2022.")
    meta = {"title": title, "organisation": organisation, "source_kind": source_kind, "countries": items(countries),
            "themes": items(themes), "years": [int(y) for y in re.findall(r"[0-9]{4}", years or "")]}
    return {k: v for k, v in meta.items() if v}


def job_view(j: Job) -> dict[str, Any]:
    """An upload job as the API's JobOut and the Gestione page read it."""
    return {"id": j.id, "state": j.state, "stage": j.stage, "file": j.file, "doc_id": j.doc_id,
            "created_at": j.created_at, "started_at": j.started_at, "finished_at": j.finished_at,
            "document": asdict(j.result) if j.result is not None else None, "changed": j.changed,
            "error": {"status": j.error[0], "message": j.error[1]} if j.error else None}
