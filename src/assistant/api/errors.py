"""Every error is a JSON body {error: {code, message, details?}}; no stack trace ever leaves the process."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.services.errors import error_response
from assistant.storage.records import EmbedderMismatch, StoreUnavailable

log = logging.getLogger("assistant.api")

# Pydantic's messages, said in Italian to the people who read them (the type stays in the details).
_ITALIAN = {
    "missing": "campo obbligatorio mancante",
    "extra_forbidden": "campo non previsto",
    "string_type": "deve essere un testo",
    "string_unicode": "contiene caratteri non validi",
    "string_too_short": "testo troppo corto (almeno {min_length} caratteri)",
    "string_too_long": "testo troppo lungo (al massimo {max_length} caratteri)",
    "string_pattern_mismatch": "formato non valido",
    "int_type": "deve essere un numero intero",
    "int_parsing": "deve essere un numero intero",
    "int_from_float": "deve essere un numero intero",
    "bool_type": "deve essere vero o falso",
    "bool_parsing": "deve essere vero o falso",
    "greater_than_equal": "deve essere almeno {ge}",
    "less_than_equal": "deve essere al massimo {le}",
    "literal_error": "valore non ammesso (ammessi: {expected})",
    "too_long": "troppi elementi (al massimo {max_length})",
    "too_short": "troppo pochi elementi",
    "list_type": "deve essere una lista",
    "model_type": "deve essere un oggetto",
    "model_attributes_type": "deve essere un oggetto",
    "dict_type": "deve essere un oggetto",
}


def _italian(e: dict) -> str:
    if e.get("type") == "string_too_short" and (e.get("ctx") or {}).get("min_length") == 1:
        return "è vuoto"
    template = _ITALIAN.get(e.get("type", ""))
    if template is None:
        return str(e.get("msg", ""))
    try:
        return template.format(**(e.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split(" (")[0]


def _clean_details(errors) -> list[dict]:
    out = []
    for e in errors:
        msg = str(e.get("msg", "")) if e.get("type") == "value_error" else _italian(e)
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        out.append({"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": msg,
                    "type": e.get("type", "")})
    return out


def _allowed(request: Request) -> str:
    """Every method some route serves at this path. Starlette names only the first route that matched the path,
    so a path served by two routes (GET and POST /v1/documents) would advertise one of them, or none."""
    from starlette.routing import Match

    methods = [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                      for route in request.app.router.routes)]
    return ", ".join(methods)


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
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            message = "Metodo non consentito."
            headers = {**(headers or {}), "Allow": _allowed(request)}
        return error_response(exc.status_code, message, headers=headers)

    @app.exception_handler(StoreUnavailable)
    async def on_store(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.error("store_unavailable", extra={"fields": {"path": request.url.path, "error": exc}})
        if isinstance(exc, EmbedderMismatch):  # a configuration to fix, not a pause to wait out
            return error_response(503, str(exc))
        return error_response(503, "L'archivio dei documenti non è raggiungibile, riprova tra poco.")

    @app.exception_handler(Exception)
    async def on_any(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled", exc_info=exc, extra={"fields": {"path": request.url.path, "error": type(exc).__name__}})
        return error_response(500, "Errore interno del servizio.")
