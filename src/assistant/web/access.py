"""Who is using the web app: server-side sessions (see session.py), the login and logout pages, the CSRF
check, the shared request budget, and the responses for a missing login, a read key on an admin page or too
many requests."""

from __future__ import annotations

import hmac
import html
import logging
import math
import time
from importlib import resources
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from assistant.services.errors import error_response
from assistant.services.guards import caller_of, client_address, key_caller, same_origin, too_many_failures
from assistant.web import session as sess

log = logging.getLogger("assistant.web")
templates = Jinja2Templates(directory=str(resources.files("assistant") / "web" / "templates"))
access = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Forbidden(Exception):
    pass


class TooManyRequests(Exception):
    def __init__(self, wait: float, message: str) -> None:
        self.wait, self.message = wait, message


# ------------------------------------------------------------------------------------------ sessions


def current(request: Request, need_admin: bool = False) -> tuple[sess.Session, bool]:
    """The browser's session (and whether its cookie must be set now). Open mode: an admin session is issued
    on first sight, so forms still carry a CSRF token."""
    settings = request.app.state.settings
    found = _sessions(request).get(request.cookies.get(sess.COOKIE, ""), lambda caller: _role_now(settings, caller))
    fresh = False
    if not settings.api_key_roles:
        if found is None:
            found, fresh = _sessions(request).create("admin", caller_of(request.scope, settings),
                                                     settings.session_hours), True
    elif found is None:
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if need_admin and not found.is_admin:
        raise Forbidden()
    limiter = request.app.state.limiter  # the same budget as the API's, per key (or per address, open mode)
    wait = limiter.retry_after(found.caller) if limiter is not None else 0.0
    if wait > 0:
        raise TooManyRequests(wait, "Troppe richieste: riprova tra qualche secondo.")
    return found, fresh


def _role_now(settings, caller: str) -> str | None:
    """The role `caller` has under the configuration in force: a key's digest, or the open mode's caller."""
    if not settings.api_key_roles:
        return "admin" if caller.startswith("open:") else None
    return next((role for key, role in settings.api_key_roles.items() if key_caller(key) == caller), None)


def _sessions(request: Request) -> sess.SessionStore:
    state = request.app.state
    if getattr(state, "sessions", None) is None:
        state.sessions = sess.SessionStore(state.settings.data_dir / "sessions.sqlite3")
    return state.sessions


def _secret(request: Request) -> bytes:
    state = request.app.state
    if getattr(state, "session_secret", None) is None:
        state.session_secret = sess.secret_for(state.settings)
    return state.session_secret


def check_csrf(request: Request, session: sess.Session, form_token: str | None = None) -> bool:
    token = form_token or request.headers.get(sess.CSRF_HEADER, "")
    return bool(token) and hmac.compare_digest(token, sess.csrf_token(session, _secret(request)))


def set_cookie(response: Response, request: Request, session: sess.Session) -> None:
    response.set_cookie(sess.COOKIE, session.token, max_age=int(session.expires - time.time()),
                        httponly=True, samesite="strict", secure=sess.is_https(request), path="/")


def render(request: Request, name: str, context: dict, session: sess.Session, fresh: bool,
           status: int = 200) -> HTMLResponse:
    settings = request.app.state.settings
    base = {"request": request, "session": session, "csrf": sess.csrf_token(session, _secret(request)),
            "open_mode": not settings.api_key_roles, "path": request.url.path}
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status)
    if fresh:
        set_cookie(response, request, session)
    return response


# ------------------------------------------------------------------------------------------- login


@access.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    settings = request.app.state.settings
    if not settings.api_key_roles:
        return RedirectResponse("/", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"request": request, "next": _safe_next(next),
                                                              "error": None, "session": None})


@access.post("/login", response_class=HTMLResponse)
def login(request: Request, key: Annotated[str, Form(max_length=500)] = "",
          next: Annotated[str, Form(max_length=500)] = "/"):
    settings = request.app.state.settings
    origin = request.headers.get("origin")
    if origin and not same_origin(origin, request.headers.get("host", "")):  # login CSRF: another site logging the browser in
        return error_response(403, "Richiesta da un'altra origine rifiutata.")
    throttle, address = request.app.state.auth_throttle, client_address(request.scope)
    wait = throttle.wait(address)
    if wait > 0:
        message, retry = too_many_failures(wait)
        return templates.TemplateResponse(request, "login.html", {
            "request": request, "next": _safe_next(next), "session": None, "error": message},
            status_code=429, headers=retry)
    role = settings.role_of(key.strip())
    if role is None:
        throttle.failed(address)
        log.info("web_login_failed")
        return templates.TemplateResponse(request, "login.html", {
            "request": request, "next": _safe_next(next), "session": None,
            "error": "Chiave non valida. Controlla di averla copiata per intero."}, status_code=401)
    old = request.cookies.get(sess.COOKIE, "")
    if old:  # a login always gets a new session id (no fixation); the old one ends
        _sessions(request).delete(old)
    session = _sessions(request).create(role, key_caller(key.strip()), settings.session_hours)
    log.info("web_login", extra={"fields": {"role": role}})
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, session)
    return response


@access.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = ""):
    session, _ = current(request)
    if not check_csrf(request, session, csrf):
        return csrf_refused()
    _sessions(request).delete(session.token)  # the record goes: a copied cookie stops working too
    response = RedirectResponse("/login" if request.app.state.settings.api_key_roles else "/", status_code=303)
    response.delete_cookie(sess.COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def csrf_refused() -> JSONResponse:
    return error_response(403, "Modulo scaduto: ricarica la pagina e riprova.")


def install_handlers(app) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        if request.headers.get("hx-request") or request.method != "GET":
            return error_response(401, "Sessione scaduta: accedi di nuovo.", headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login?" + urlencode({"next": exc.next_url}), status_code=303)

    @app.exception_handler(TooManyRequests)
    async def too_many(request: Request, exc: TooManyRequests):
        retry = {"Retry-After": str(max(1, math.ceil(exc.wait)))}
        if request.headers.get("hx-request") or request.method != "GET":
            return error_response(429, exc.message, headers=retry)
        return HTMLResponse(f"<!doctype html><html lang=\"it\"><title>Troppe richieste</title><p>{html.escape(exc.message)}"
                            "</p></html>", status_code=429, headers=retry)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        if request.method != "GET" or request.headers.get("hx-request"):
            return error_response(403, "Riservato agli amministratori.")
        session, _ = current(request)
        return render(request, "errore.html", {"title": "Accesso riservato",
                                                 "message": "Questa pagina è riservata agli amministratori."},
                       session, False, status=403)
