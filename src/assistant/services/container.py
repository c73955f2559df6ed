"""The services every adapter shares (store, search, asking, feedback, upload jobs), built once per app."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from assistant.answers.service import AskService
from assistant.core.config import Settings
from assistant.core.deadline import TimeUp, budget
from assistant.search.retrieval import Searcher
from assistant.services.feedback import FeedbackStore
from assistant.services.jobs import JobRunner
from assistant.storage.originals import drop_original, keep_original
from assistant.storage.records import StoreUnavailable
from assistant.storage.store import Store  # noqa: F401 - re-raised by connect()

log = logging.getLogger("assistant.services")


@dataclass
class Services:
    settings: Settings
    store: Store
    searcher: Searcher
    asker: AskService
    feedback: FeedbackStore
    jobs: JobRunner | None = None
    model_ready: bool = False
    _ingestor: object | None = None
    _ingest_lock: threading.Lock = field(default_factory=threading.Lock)

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document, after the uploads of it accepted earlier (queued ones are cancelled, a running one
        finishes first): a deletion is never undone by an upload that was waiting. False when there was none."""
        cancelled = self.jobs.settle(doc_id, (409, "Caricamento annullato: il documento è stato eliminato "
                                                  "mentre era in coda.")) if self.jobs is not None else 0
        record = self.store.get(doc_id)
        deleted = bool(self.store.delete_document(doc_id))
        if deleted:
            drop_original(self.uploads, record)
        return deleted or cancelled > 0

    @property
    def uploads(self) -> Path:
        """Where uploaded files are kept for download (see assistant/originals.py)."""
        return self.settings.data_dir / "uploads"

    @property
    def ingestor(self):
        from ingest.pipeline import Ingestor

        with self._ingest_lock:
            if self._ingestor is None:
                self._ingestor = Ingestor(self.store, self.settings)
            return self._ingestor


def services(request: Request) -> Services:
    """The app's services; if the store could not be opened yet, try again now (a server may be back)."""
    svc = getattr(request.app.state, "services", None)
    if svc is None:
        svc = request.app.state.connect()
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def upload_runner(svc: Services) -> JobRunner:
    """The background indexer for uploads, with failures told apart: too large (413), unreadable (422)."""
    from ingest.loading import LoadError

    def work(job, set_stage):
        data, info = job.payload
        if isinstance(data, Path):  # resumed after a restart: the file waited in the spool folder
            data = data.read_bytes()
        meta, source = info["meta"], info["source"]
        previous = svc.store.get(job.doc_id)
        with budget(svc.settings.upload_timeout_seconds):  # checked between pages, pieces and batches
            record, changed = svc.ingestor.index_bytes(data, job.file, meta=meta, source=source, doc_id=job.doc_id,
                                                       progress=set_stage)
        keep_original(svc.uploads, job.doc_id, source, data, previous)
        return record, changed

    def classify(exc: BaseException) -> tuple[int, str] | None:
        while exc.__cause__ is not None and not isinstance(exc, (LoadError, TimeUp)):
            exc = exc.__cause__  # Haystack's Pipeline wraps what a component raised
        if isinstance(exc, LoadError):
            return load_failure(exc)
        if isinstance(exc, TimeUp):
            return 413, (f"Il documento richiede più di {exc.seconds:g} secondi per essere indicizzato: dividilo in "
                         "file più piccoli (il limite è ASSISTANT_UPLOAD_TIMEOUT_SECONDS).")
        if isinstance(exc, StoreUnavailable):
            return 503, "L'archivio dei documenti non è raggiungibile, riprova tra poco."
        return None

    def startup() -> None:
        svc.store.collect_garbage()
        svc.store.schedule_optimize()  # writes the last run left unindexed, if any

    # Passages left by a crash mid-write are invisible (their version is not live) but take room: collected on
    # the writer's own thread before any upload. Indexes are refreshed in the background after each batch.
    def background() -> bool:
        from assistant.models.e5 import embed_passages

        return svc.store.enrich_step(embed_passages)

    def resolve(job):  # a finished job read back after a restart: its document as it is now
        return svc.store.get(job.doc_id)

    return JobRunner(work, classify, keep=svc.settings.upload_jobs_kept, startup=startup, resolve=resolve,
                     folder=svc.settings.data_dir / "jobs",
                     idle=svc.store.schedule_optimize,
                     background=background if svc.settings.sentence_vectors == "background" else None)


def load_failure(exc) -> tuple[int, str]:
    """An upload's file that cannot be indexed, as (the HTTP status it stands for, the reason in Italian)."""
    from ingest.loading import TooLarge, Unsupported

    if isinstance(exc, TooLarge):
        return 413, f"Il documento è troppo grande: {exc.italian} ({exc})."
    if isinstance(exc, Unsupported):
        return 415, f"Impossibile indicizzare il file: {exc.italian}."
    return 422, f"Impossibile indicizzare il file: {exc.italian} ({exc})."
