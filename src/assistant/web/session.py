"""The web app's session: a signed, expiring cookie that says which role and which caller (a digest of the API
key, never the key) the browser is, and the CSRF token derived from it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from ..config import Settings

COOKIE = "coop_session"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Session:
    role: str  # read | admin
    caller: str  # "key:<digest>" or "open:<address>"
    nonce: str
    expires: float

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def secret_for(settings: Settings) -> bytes:
    """ASSISTANT_SESSION_SECRET, else a random secret kept in the data folder (readable by its owner only)."""
    if settings.session_secret:
        return settings.session_secret.encode()
    path: Path = settings.data_dir / "session.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, secret: bytes) -> str:
    payload = _b64(json.dumps({"r": session.role, "c": session.caller, "n": session.nonce,
                               "e": int(session.expires)}).encode())
    sig = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def decode(value: str, secret: bytes, now: float | None = None) -> Session | None:
    try:
        payload, sig = value.split(".", 1)
        expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            return None
        data = json.loads(_unb64(payload))
        session = Session(str(data["r"]), str(data["c"]), str(data["n"]), float(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (now or time.time()) else None


def new_session(role: str, caller: str, hours: float) -> Session:
    return Session(role, caller, secrets.token_urlsafe(16), time.time() + hours * 3600)


def csrf_token(session: Session, secret: bytes) -> str:
    return hmac.new(secret, f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
