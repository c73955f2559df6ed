"""Upload jobs: files are indexed one at a time by a background worker, so an upload never holds its request
open and searches keep being answered while it runs."""

from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("assistant.jobs")


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


class JobRunner:
    """One worker thread, a bounded queue, the last `keep` jobs remembered; `startup` runs first on that thread. `work(job, set_stage)` returns
    (result, changed) or raises; `classify(exc)` turns a failure into (status, message) or None for a bug; `idle`
    runs when the queue empties after a batch of jobs (the store refreshes its indexes then); `background()` does
    one small step of lower-priority work between jobs and returns whether more is left."""

    def __init__(self, work: Callable, classify: Callable[[BaseException], tuple[int, str] | None],
                 max_pending: int = 20, keep: int = 200, niceness: int = 10,
                 startup: Callable[[], None] | None = None, idle: Callable[[], None] | None = None,
                 background: Callable[[], bool] | None = None) -> None:
        self._startup = startup
        self._idle = idle
        self._background = background
        self._background_pending = background is not None
        self._work = work
        self._classify = classify
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=max_pending)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep = keep
        self._niceness = niceness
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="upload-jobs", daemon=True)
        self._thread.start()

    def submit(self, file: str, doc_id: str, owner: str, payload: Any) -> Job:
        job = Job(id=secrets.token_urlsafe(12), file=file, doc_id=doc_id, owner=owner)
        job.payload = payload  # type: ignore[attr-defined]  # not part of what callers read back
        with self._lock:
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull() from None
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

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

    def _run(self) -> None:
        try:  # Linux schedules threads as tasks: a nicer indexer leaves the CPU to searches first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._niceness)
        except (AttributeError, OSError):
            pass
        if self._startup is not None:
            try:  # on this thread: the only writer, so nothing it cleans can be a write in progress
                self._startup()
            except Exception as exc:  # noqa: BLE001 - uploads still work
                log.warning("startup_task_failed error=%s", exc)
        while True:
            try:
                job = self._queue.get(timeout=0.2) if self._background_pending else self._queue.get()
            except queue.Empty:
                try:
                    self._background_pending = bool(self._background())  # type: ignore[misc]
                except Exception as exc:  # noqa: BLE001 - tried again after the next job
                    log.warning("background_task_failed error=%s", exc)
                    self._background_pending = False
                continue
            if job is None:
                return
            job.state, job.started_at = "running", time.time()

            def set_stage(stage: str, job: Job = job) -> None:
                job.stage = stage

            try:
                job.result, job.changed = self._work(job, set_stage)
                job.state, job.stage = "done", "completato"
            except BaseException as exc:  # noqa: BLE001 - a failed upload must not stop the worker
                known = self._classify(exc)
                if known is None:
                    log.error("job_failed id=%s error=%s", job.id, type(exc).__name__, exc_info=exc)
                    known = (500, "Errore interno durante l'indicizzazione.")
                job.state, job.stage, job.error = "failed", "errore", known
            finally:
                job.finished_at = time.time()
                job.payload = None  # type: ignore[attr-defined]  # free the file's bytes
                log.info("job id=%s doc_id=%s state=%s seconds=%.1f", job.id, job.doc_id, job.state,
                         job.finished_at - (job.started_at or job.finished_at))
            self._background_pending = self._background is not None  # a new document may want its share
            if self._idle is not None and self._queue.empty():
                try:
                    self._idle()
                except Exception as exc:  # noqa: BLE001 - uploads still work
                    log.warning("idle_task_failed error=%s", exc)
