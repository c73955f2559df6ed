"""Checks made before a request's body is read: who is calling, how large the body is, how fast it arrives,
how often the caller asks, and (in open mode) which Host and Origin the request carries.

Written as a plain ASGI middleware rather than FastAPI dependencies because dependencies run only after
the body (JSON or multipart) has already been read and spooled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

from assistant.core.config import Settings
from assistant.services.errors import error_body

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
# On every response: scripts and styles only from the app's own files (no inline code, so injected markup cannot
# run), no framing (clickjacking), no MIME sniffing, no full URLs leaked to other sites. FastAPI's /docs pages
# load Swagger UI from a CDN with an inline script, so they keep only the headers that do not break them.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        return list(_ALWAYS)
    return [*_ALWAYS, (b"content-security-policy", _CSP.encode())]


_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class BodyTooLarge(HTTPException):
    """The body grew past its limit while being read (chunked uploads carry no Content-Length). An HTTPException
    so that FastAPI's body parsing passes it on instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


class SlowClient(HTTPException):
    def __init__(self) -> None:
        super().__init__(408, "Il corpo della richiesta arriva troppo lentamente.")


def caller_of(scope: dict, settings: Settings) -> str:
    """Who is calling: a digest of the API key, or "open:<client address>" when no keys are configured."""
    if settings.api_key_roles:
        key = _bearer(scope)
        if key:
            return key_caller(key)
    client = scope.get("client") or ("?", 0)
    return f"open:{client[0]}"


def key_caller(key: str) -> str:
    """The caller id of an API key: a digest, so the key itself is never kept."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _bearer(scope: dict) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            raw = value.decode("latin-1")
            if raw[:7].lower() == "bearer ":
                return raw[7:].strip()
    return ""


def host_only(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    return host_only(host) in _LOOPBACK_NAMES


class RateLimiter:
    """A token bucket per caller: `per_minute` requests, refilled continuously; bounded in callers kept."""

    def __init__(self, per_minute: int, clock=time.monotonic, max_callers: int = 10000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.clock = clock
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, caller: str) -> float:
        """0 when the request may go ahead (and is counted), else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[caller] = (tokens, now)
                wait = (1 - tokens) / self.rate
            self._buckets.move_to_end(caller)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
            return wait


class AuthThrottle:
    """Failed authentications (wrong API keys, wrong web logins) per client address: the first `free` cost
    nothing, each further one doubles the wait before the address may try again (1 s, 2 s, 4 s…, at most `cap`);
    a quiet spell of `forget` seconds starts the count over. Other addresses are never affected."""

    def __init__(self, free: int = 5, cap: float = 900.0, forget: float = 900.0, clock=time.monotonic,
                 max_clients: int = 10000) -> None:
        self.free, self.cap, self.forget, self.clock = free, cap, forget, clock
        self.max_clients = max_clients
        self._state: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # failures, blocked until, last
        self._lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Seconds `address` must still wait before its next attempt (0: it may try)."""
        with self._lock:
            failures, until, last = self._state.get(address, (0, 0.0, 0.0))
            return max(0.0, until - self.clock())

    def failed(self, address: str) -> float:
        """Count one failure; returns the wait it imposes."""
        now = self.clock()
        with self._lock:
            failures, until, last = self._state.get(address, (0, 0.0, 0.0))
            if now - last > self.forget and until <= now:
                failures = 0
            failures += 1
            wait = min(self.cap, 2.0 ** (failures - self.free - 1)) if failures > self.free else 0.0
            self._state[address] = (failures, now + wait, now)
            self._state.move_to_end(address)
            while len(self._state) > self.max_clients:
                self._state.popitem(last=False)
            return wait


def same_origin(origin: str, host: str) -> bool:
    """Whether a browser's Origin header names the host the request was sent to."""
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()


def client_address(scope: dict) -> str:
    return (scope.get("client") or ("?", 0))[0]


def too_many_failures(wait: float) -> tuple[str, dict[str, str]]:
    return ("Troppi tentativi con una chiave non valida da questo indirizzo: riprova tra "
            f"{max(1, math.ceil(wait))} secondi.", {"Retry-After": str(max(1, math.ceil(wait)))})


class Guard:
    """ASGI middleware; see the module docstring. Errors use the API's JSON error shape, in Italian."""

    def __init__(self, app, settings: Settings, limiter: RateLimiter | None = None,
                 throttle: AuthThrottle | None = None) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.throttle = throttle or AuthThrottle(settings.auth_failures_free, settings.auth_block_max_seconds)
        self.in_progress = 0  # requests being handled (the event loop's thread only: no lock needed)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        s = self.settings
        method = scope["method"]
        path = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        scope.setdefault("state", {})["caller"] = caller_of(scope, s)

        if not s.api_key_roles:
            # Open mode: a page on another site must not drive the API through the user's browser.
            if not s.allow_open_network and not is_loopback(headers.get("host", "")):
                return await _reply(send, 421,
                                    "Host non consentito: senza chiavi API il servizio risponde solo su localhost.")
            origin = headers.get("origin")
            if origin and method in _UNSAFE and not self._origin_ok(origin, headers.get("host", "")):
                return await _reply(send, 403, "Richiesta da un'altra origine rifiutata.")
        elif path.startswith("/v1/") and method != "OPTIONS":
            address = client_address(scope)
            wait = self.throttle.wait(address) if _bearer(scope) else 0.0
            if wait > 0:  # an address that kept guessing keys waits, whatever key it tries now
                message, retry = too_many_failures(wait)
                return await _reply(send, 429, message, retry)
            if s.role_of(_bearer(scope)) is None:
                # Before the body: a caller without a valid key never gets to send megabytes.
                if _bearer(scope):
                    self.throttle.failed(address)
                message = "Chiave API non valida." if _bearer(scope) else \
                    "Chiave API mancante: usa l'header Authorization: Bearer <chiave>."
                return await _reply(send, 401, message, {"WWW-Authenticate": "Bearer"})

        limit = self._body_limit(method, path)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await _reply(send, 400, "Content-Length non valido.")
            if int(length) > limit:
                return await _reply(send, 413, _too_large(limit))

        if self.limiter is not None and path.startswith("/v1/"):
            wait = self.limiter.retry_after(scope["state"]["caller"])
            if wait > 0:
                return await _reply(send, 429, "Troppe richieste: riprova tra qualche secondo.",
                                    {"Retry-After": str(max(1, math.ceil(wait)))})

        received = 0
        timeout = s.body_timeout_seconds

        async def guarded_receive():
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except asyncio.TimeoutError:
                raise SlowClient() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        extra = security_headers(path)

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in extra if k not in have)]}
            await send(message)

        if self.in_progress >= s.max_requests_in_progress:  # real work only: idle sockets are not counted
            return await _reply(send, 503, "Il servizio è molto carico: riprova tra qualche secondo.",
                                {"Retry-After": "2"})
        self.in_progress += 1
        try:
            await self.app(scope, guarded_receive, tracked_send)
        except (BodyTooLarge, SlowClient) as exc:  # raised where no handler turned them into a response
            if not started:
                await _reply(send, exc.status_code, str(exc.detail))
        finally:
            self.in_progress -= 1

    def _origin_ok(self, origin: str, host: str) -> bool:
        return origin in self.settings.cors_origin_list or same_origin(origin, host)

    def _body_limit(self, method: str, path: str) -> int:
        if method == "POST" and path.rstrip("/") in ("/v1/documents", "/gestione/carica"):
            return int(self.settings.max_upload_mb * 1024 * 1024) + 64 * 1024  # the file plus its form fields
        return self.settings.max_json_kb * 1024


def _too_large(limit: int) -> str:
    return f"Il corpo della richiesta supera il limite di {limit / 1024 / 1024:.1f} MB."


async def _reply(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(error_body(status, message), ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw += security_headers("")
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
