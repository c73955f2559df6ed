"""The configured app's services, and the dependencies that hand them to routes."""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..answering import AskService
from ..config import Settings
from ..feedback import FeedbackStore
from ..retrieval import Searcher
from ..store import Store, StoreUnavailable  # noqa: F401 - re-raised by connect()

log = logging.getLogger("assistant.api")


@dataclass
class Services:
    settings: Settings
    store: Store
    searcher: Searcher
    asker: AskService
    feedback: FeedbackStore
    model_ready: bool = False
    _ingestor: object | None = None
    _ingest_lock: threading.Lock = field(default_factory=threading.Lock)

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
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer KEY`")
_ROLE_RANK = {"read": 1, "admin": 2}


def require(role: str):
    """Dependency: the caller's key must carry `role` (admin includes read). Keys compared in constant time."""

    def check(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
        keys = request.app.state.settings.api_key_roles
        if not keys:
            return "admin"  # no keys configured: local open mode (see README)
        if creds is None or not creds.credentials:
            raise HTTPException(401, "Chiave API mancante: usa l'header Authorization: Bearer <chiave>.",
                                headers={"WWW-Authenticate": "Bearer"})
        given = creds.credentials.encode()
        found: str | None = None
        for key, key_role in keys.items():
            if hmac.compare_digest(given, key.encode()):
                found = key_role
        if found is None:
            raise HTTPException(401, "Chiave API non valida.", headers={"WWW-Authenticate": "Bearer"})
        if _ROLE_RANK.get(found, 0) < _ROLE_RANK[role]:
            raise HTTPException(403, f"Questa chiave non ha il ruolo '{role}' richiesto.")
        return found

    return check


ReadRole = Depends(require("read"))
AdminRole = Depends(require("admin"))
