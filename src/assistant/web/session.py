"""The web app's sessions, kept on the server: the cookie holds only a random id; the record (role, caller — a
digest of the API key, never the key — and expiry) lives in SQLite beside the feedback database. Logout deletes
it, a new login gets a new id, and a session whose key is no longer configured (or has another role) ends at its
next request, restart or not."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from assistant.core.config import Settings

COOKIE = "coop_session"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 10_000  # open mode issues one per browser: the oldest go first past this


@dataclass
class Session:
    token: str  # the cookie's value; stored only as a digest
    role: str  # read | admin
    caller: str  # "key:<digest>" or "open:<address>"
    expires: float

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def secret_for(settings: Settings) -> bytes:
    """ASSISTANT_SESSION_SECRET, else a random secret kept in the data folder (readable by its owner only); it
    derives the CSRF tokens."""
    if settings.session_secret:
        return settings.session_secret.encode()
    path: Path = settings.data_dir / "session.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Session records by the digest of their token (a copied database does not yield working cookies)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, role TEXT NOT NULL, "
                         "caller TEXT NOT NULL, expires REAL NOT NULL, created REAL NOT NULL)")
        self._lock = threading.Lock()

    def create(self, role: str, caller: str, hours: float) -> Session:
        session = Session(secrets.token_urlsafe(32), role, caller, time.time() + hours * 3600)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (time.time(),))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                             (_digest(session.token), role, caller, session.expires, time.time()))
            self._db.execute("DELETE FROM sessions WHERE digest IN (SELECT digest FROM sessions ORDER BY created DESC "
                             "LIMIT -1 OFFSET ?)", (MAX_SESSIONS,))
        return session

    def get(self, token: str, role_now) -> Session | None:
        """The live session of `token`, if any; `role_now(caller)` says the role the caller's key has today
        (None when the key is gone): a session whose role it no longer matches is deleted."""
        if not token or len(token) > 200:
            return None
        with self._lock:
            row = self._db.execute("SELECT role, caller, expires FROM sessions WHERE digest = ?",
                                   (_digest(token),)).fetchone()
        if row is None:
            return None
        role, caller, expires = row
        if expires <= time.time() or role_now(caller) != role:
            self.delete(token)
            return None
        return Session(token, role, caller, expires)

    def delete(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE digest = ?", (_digest(token),))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def csrf_token(session: Session, secret: bytes) -> str:
    return hmac.new(secret, f"csrf:{_digest(session.token)}".encode(), hashlib.sha256).hexdigest()[:32]


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
