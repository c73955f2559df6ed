"""The configured FastAPI app. The API process owns the store (embedded mode allows one process per folder)."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from assistant import __version__
from assistant.answers.service import AskService
from assistant.api import errors, openapi
from assistant.api.routes import health, v1
from assistant.core.config import Settings
from assistant.models.e5 import warm_up
from assistant.search.retrieval import Searcher
from assistant.services.container import Services, upload_runner
from assistant.services.feedback import FeedbackStore
from assistant.services.guards import AuthThrottle, Guard, RateLimiter
from assistant.storage.records import EmbedderMismatch, StoreUnavailable
from assistant.storage.store import Store

log = logging.getLogger("assistant.api")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings()

    lock = threading.Lock()

    def connect() -> Services:
        """Open the store and build the services once; raises StoreUnavailable while the store is down."""
        with lock:
            if getattr(app.state, "services", None) is not None:
                return app.state.services
            st = store or Store(settings)
            searcher = Searcher(st)  # one query cache for searches and the questions asked after them
            svc = Services(settings=settings, store=st, searcher=searcher,
                           asker=AskService(st, settings, searcher=searcher),
                           feedback=FeedbackStore(settings.feedback_path))
            svc.jobs = upload_runner(svc)  # also collects orphan passages first
            svc.feedback.prune(settings.feedback_retention_days)
            svc.jobs.prune(settings.feedback_retention_days)
            warm_up()
            svc.model_ready = True
            app.state.services = svc
            log.info("ready", extra={"fields": {"documents": len(st.documents())}})
            return svc

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = None
        app.state.connect = connect
        if not settings.api_key_roles:
            log.warning("open_mode", extra={"fields": {"hint": "no ASSISTANT_API_KEYS set, every endpoint is open "
                                                           "(keep the API on loopback)"}})
        try:
            connect()
        except EmbedderMismatch as exc:
            # retrying would not help: refuse to start
            log.error("embedder_mismatch", extra={"fields": {"error": str(exc), "starting": False}})
            raise
        except StoreUnavailable as exc:
            log.error("store_unavailable", extra={"fields": {"error": str(exc), "retry": "on each request"}})
        try:
            yield
        finally:
            svc = app.state.services
            if svc is not None:
                if svc.jobs is not None:
                    svc.jobs.close()
                svc.feedback.close()
            if getattr(app.state, "sessions", None) is not None:
                app.state.sessions.close()
                if store is None:
                    svc.store.close()

    app = FastAPI(
        title="coop-assistant API",
        version=__version__,
        description="Ricerca e risposte con fonti sui documenti di cooperazione decentrata. "
                    "Autenticazione: `Authorization: Bearer KEY` (ruoli `read` e `admin`).",
        lifespan=lifespan,
    )
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST",
                           "DELETE"], allow_headers=["Authorization", "Content-Type"])
    # One request budget per caller and one count of failed authentications per address, for the API and the pages.
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute) if settings.rate_limit_per_minute > 0 else None
    app.state.auth_throttle = AuthThrottle(settings.auth_failures_free, settings.auth_block_max_seconds)
    app.add_middleware(Guard, settings=settings, limiter=app.state.limiter,
                       throttle=app.state.auth_throttle)  # added last: runs first, before any body is read
    app.state.settings = settings
    errors.install(app)
    app.include_router(health)
    app.include_router(v1)
    from assistant.web.routes import install as install_web

    install_web(app)  # the staff pages: /, /documenti, /chiedi, /gestione
    openapi.install(app, settings)
    return app

