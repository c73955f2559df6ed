"""Every error is a JSON body {error: {code, message, details?}}; no stack trace ever leaves the process."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..store import EmbedderMismatch, StoreUnavailable

log = logging.getLogger("assistant.api")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          408: "request_timeout", 409: "conflict", 421: "misdirected_request",
          413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input", 429: "rate_limited",
          503: "unavailable"}


def error_response(status: int, message: str, details: list[dict] | None = None, headers=None) -> JSONResponse:
    body: dict = {"code": _CODES.get(status, "error"), "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _clean_details(errors) -> list[dict]:
    out = []
    for e in errors:
        msg = str(e.get("msg", ""))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append({"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": msg,
                    "type": e.get("type", "")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "Il corpo della richiesta non è JSON valido.")
        details = _clean_details(errors)
        return error_response(422, "Richiesta non valida: " + "; ".join(
            f"{d['field'] or 'body'}: {d['message']}" for d in details), details)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Errore."
        if exc.status_code == 404 and message == "Not Found":
            message = "Risorsa non trovata."
        if exc.status_code == 405:
            message = "Metodo non consentito."
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(StoreUnavailable)
    async def on_store(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.error("store_unavailable path=%s error=%s", request.url.path, exc)
        if isinstance(exc, EmbedderMismatch):  # a configuration to fix, not a pause to wait out
            return error_response(503, str(exc))
        return error_response(503, "L'archivio dei documenti non è raggiungibile, riprova tra poco.")

    @app.exception_handler(Exception)
    async def on_any(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled path=%s error=%s", request.url.path, type(exc).__name__, exc_info=exc)
        return JSONResponse({"error": {"code": "internal", "message": "Errore interno del servizio."}},
                            status_code=500)
