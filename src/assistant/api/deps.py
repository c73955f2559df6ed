"""Who may call what: the API-key roles routes depend on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
        found = request.app.state.settings.role_of(creds.credentials)
        if found is None:
            raise HTTPException(401, "Chiave API non valida.", headers={"WWW-Authenticate": "Bearer"})
        if _ROLE_RANK.get(found, 0) < _ROLE_RANK[role]:
            raise HTTPException(403, f"Questa chiave non ha il ruolo '{role}' richiesto.")
        return found

    return check


ReadRole = Depends(require("read"))
AdminRole = Depends(require("admin"))
