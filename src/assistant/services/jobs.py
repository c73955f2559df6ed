"""Upload jobs: files are indexed one at a time by a background worker, so an upload never holds its request
open and searches keep being answered while it runs. With a folder, jobs outlive the process: each job is a
row in jobs.sqlite3 and its file waits in spool/ until it is indexed; after a restart (or a crash) the jobs that
were queued or running are queued again, and a job whose file is gone is reported failed, never unknown."""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("assistant.services.jobs")


class QueueFull(RuntimeError):
    """Too many uploads are waiting."""


@dataclass
class Job:
    id: str
    file: str
    doc_id: str
    owner: str
    state: str = "queued"  # queued | running | done | failed
    stage: str = "in coda"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    changed: bool | None = None
    error: tuple[int, str] | None = None  # (HTTP status it stands for, message)

    def fail(self, error: tuple[int, str]) -> None:
        """End the job as failed now, with `error`."""
        self.state, self.stage, self.error, self.finished_at = "failed", "errore", error, time.time()


class JobRunner:
    """One worker thread, a bounded queue, the last `keep` jobs remembered; `startup` runs first on that thread. `work(job, set_stage)` returns
    (result, changed) or raises; `classify(exc)` turns a failure into (status, message) or None for a bug; `idle`
    runs when the queue empties after a batch of jobs (the store refreshes its indexes then); `background()` does
    one small step of lower-priority work between jobs and returns whether more is left."""

    def __init__(self, work: Callable, classify: Callable[[BaseException], tuple[int, str] | None],
                 max_pending: int = 20, keep: int = 200, niceness: int = 10,
                 startup: Callable[[], None] | None = None, idle: Callable[[], None] | None = None,
                 background: Callable[[], bool] | None = None, folder: Path | None = None,
                 resolve: Callable[[Job], Any] | None = None) -> None:
        self._startup = startup
        self._idle = idle
        self._background = background
        self._background_pending = background is not None
        self._work = work
        self._classify = classify
        self._queue: queue.Queue[Job | None] = queue.Queue()  # bounded by submit(): resumed jobs may exceed it
        self._max_pending = max_pending
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep
        self._niceness = niceness
        self._lock = threading.Lock()
        self._resolve = resolve  # a finished job read back from the database: its result, from its doc_id
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._spool: Path | None = None
        if folder is not None:
            self._open(folder)
        self._thread = threading.Thread(target=self._run, name="upload-jobs", daemon=True)
        self._thread.start()

    # ----- persistence ----------------------------------------------------------------------------------
    def _open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._spool = folder / "spool"
        self._spool.mkdir(exist_ok=True)
        self._db = sqlite3.connect(folder / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, file TEXT, doc_id TEXT, owner TEXT, "
                         "state TEXT, stage TEXT, created_at REAL, started_at REAL, finished_at REAL, changed INTEGER, "
                         "error TEXT, info TEXT)")
        rows = self._db.execute("SELECT id, file, doc_id, owner, created_at, info FROM jobs WHERE state IN "
                                "('queued', 'running') ORDER BY created_at").fetchall()
        for job_id, file, doc_id, owner, created_at, info in rows:  # left by the previous process
            job = Job(id=job_id, file=file, doc_id=doc_id, owner=owner, created_at=created_at)
            spooled = self._spool / job_id
            if spooled.exists():
                job.payload = (spooled, json.loads(info or "{}"))  # type: ignore[attr-defined]
                self._remember(job)
                self._queue.put(job)  # past max_pending if need be: these were accepted already
                log.info("job_resumed", extra={"fields": {"job": job_id, "doc_id": doc_id}})
            else:
                job.fail((500, "Caricamento interrotto da un riavvio del servizio: ricarica il file."))
            self._save(job)

    def _save(self, job: Job, info: dict | None = None) -> None:
        if self._db is None:
            return
        with self._db_lock:
            self._db.execute(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "state=excluded.state, stage=excluded.stage, started_at=excluded.started_at, "
                "finished_at=excluded.finished_at, changed=excluded.changed, error=excluded.error",
                (job.id, job.file, job.doc_id, job.owner, job.state, job.stage, job.created_at, job.started_at,
                 job.finished_at, None if job.changed is None else int(job.changed),
                 json.dumps(job.error) if job.error else None, json.dumps(info) if info is not None else None))

    def _load(self, job_id: str) -> Job | None:
        if self._db is None:
            return None
        with self._db_lock:
            row = self._db.execute("SELECT id, file, doc_id, owner, state, stage, created_at, started_at, "
                                   "finished_at, changed, error FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = Job(*row[:9], changed=None if row[9] is None else bool(row[9]),
                  error=tuple(json.loads(row[10])) if row[10] else None)  # type: ignore[arg-type]
        if job.state == "done" and self._resolve is not None:
            job.result = self._resolve(job)
        return job

    def prune(self, days: float) -> None:
        """Forget finished jobs older than `days` (the feedback retention)."""
        if self._db is not None:
            with self._db_lock:
                self._db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed') AND created_at < ?",
                                 (time.time() - days * 86400,))

    def submit(self, file: str, doc_id: str, owner: str, data: bytes, info: dict) -> Job:
        """Queue `data` (the file) with `info` (JSON: what the work needs besides the file)."""
        job = Job(id=secrets.token_urlsafe(12), file=file, doc_id=doc_id, owner=owner)
        with self._lock:
            if self._queue.qsize() >= self._max_pending:
                raise QueueFull()
            if self._spool is not None:  # the file waits on disk, so a restart can still index it
                part = self._spool / f".{job.id}.part"
                part.write_bytes(data)
                part.replace(self._spool / job.id)
            self._save(job, info)
            job.payload = (data, info)  # type: ignore[attr-defined]  # not part of what callers read back
            self._queue.put_nowait(job)
            self._remember(job)
        return job

    def _drop_spool(self, job: Job) -> None:
        if self._spool is not None:
            (self._spool / job.id).unlink(missing_ok=True)

    def failed(self, file: str, doc_id: str, owner: str, error: tuple[int, str]) -> Job:
        """A job that failed the quick checks before the queue: it is born finished, so the upload's own
        response already says why, and polling it answers the same."""
        job = Job(id=secrets.token_urlsafe(12), file=file, doc_id=doc_id, owner=owner)
        job.started_at = job.created_at
        job.fail(error)
        self._save(job)
        with self._lock:
            self._remember(job)
        return job

    def settle(self, doc_id: str, reason: tuple[int, str], timeout: float = 600) -> int:
        """Before a document is deleted: its queued uploads are cancelled (failed with `reason`) and a running one
        is waited for, so the deletion comes after every upload accepted before it. Returns the jobs cancelled."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j.doc_id == doc_id and j.state == "queued"]
            for job in queued:  # the worker skips a job that is no longer queued
                job.fail(reason)
            running = [j.id for j in self._jobs.values() if j.doc_id == doc_id and j.state == "running"]
        for job in queued:
            self._save(job)
            self._drop_spool(job)
        for job_id in running:
            self.wait(job_id, timeout)
        return len(queued)

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > self._keep:
            oldest = next(iter(self._jobs.values()))
            if oldest.state in ("queued", "running"):
                break
            self._jobs.popitem(last=False)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None else self._load(job_id)

    def wait(self, job_id: str, timeout: float) -> Job | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(job_id)
            if job is None or job.state in ("done", "failed"):
                return job
            time.sleep(0.05)
        return self.get(job_id)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._db is not None:
            with self._db_lock:
                self._db.close()
                self._db = None

    def _run(self) -> None:
        try:  # Linux schedules threads as tasks: a nicer indexer leaves the CPU to searches first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._niceness)
        except (AttributeError, OSError):
            pass
        if self._startup is not None:
            try:  # on this thread: the only writer, so nothing it cleans can be a write in progress
                self._startup()
            except Exception as exc:  # noqa: BLE001 - uploads still work
                log.warning("startup_task_failed", extra={"fields": {"error": exc}})
        while True:
            try:
                job = self._queue.get(timeout=0.2) if self._background_pending else self._queue.get()
            except queue.Empty:
                try:
                    self._background_pending = bool(self._background())  # type: ignore[misc]
                except Exception as exc:  # noqa: BLE001 - tried again after the next job
                    log.warning("background_task_failed", extra={"fields": {"error": exc}})
                    self._background_pending = False
                continue
            if job is None:
                return
            with self._lock:
                cancelled = job.state != "queued"  # cancelled while it waited (its document was deleted)
                if not cancelled:
                    job.state, job.started_at = "running", time.time()
            if cancelled:
                job.payload = None  # type: ignore[attr-defined]
                continue
            self._save(job)

            def set_stage(stage: str, job: Job = job) -> None:
                job.stage = stage

            try:
                job.result, job.changed = self._work(job, set_stage)
                job.state, job.stage = "done", "completato"
            except BaseException as exc:  # noqa: BLE001 - a failed upload must not stop the worker
                known = self._classify(exc)
                if known is None:
                    log.error("job_failed", exc_info=exc, extra={"fields": {"id": job.id,
                                                                            "error": type(exc).__name__}})
                    known = (500, "Errore interno durante l'indicizzazione.")
                job.state, job.stage, job.error = "failed", "errore", known
            finally:
                job.finished_at = time.time()
                job.payload = None  # type: ignore[attr-defined]  # free the file's bytes
                self._save(job)
                self._drop_spool(job)
                log.info("job", extra={"fields": {"id": job.id, "doc_id": job.doc_id, "state": job.state,
                                                  "seconds": job.finished_at - (job.started_at or job.finished_at)}})
            self._background_pending = self._background is not None  # a new document may want its share
            if self._idle is not None and self._queue.empty():
                try:
                    self._idle()
                except Exception as exc:  # noqa: BLE001 - uploads still work
                    log.warning("idle_task_failed", extra={"fields": {"error": exc}})
