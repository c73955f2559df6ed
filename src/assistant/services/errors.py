"""The one error shape every adapter answers with: {error: {code, message, details?}}, the message in Italian."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         408: "request_timeout", 409: "conflict", 421: "misdirected_request", 413: "payload_too_large",
         415: "unsupported_media_type", 422: "invalid_input", 429: "rate_limited", 500: "internal",
         503: "unavailable"}


def error_body(status: int, message: str, details: list[dict] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": CODES.get(status, "error"), "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def error_response(status: int, message: str, details: list[dict] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status_code=status, headers=headers)
