"""The OpenAPI document, exact for the configuration being served: the errors the guard and the handlers can
return on every operation, and authentication only when API keys are configured (open mode has none)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from assistant.core.config import Settings

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_DESCRIPTIONS = {
    400: "Malformed request: a body that is not JSON, an invalid Content-Length",
    401: "Missing or invalid API key",
    403: "The key lacks the role this operation needs, or (open mode) a write from another browser origin",
    408: "The request body stalled",
    413: "The request body is over its limit",
    421: "Open mode (no API keys) answers only to a loopback Host",
    422: "The request does not match this schema (the message says what, in Italian)",
    429: "Too many requests from this caller: wait for Retry-After seconds",
    500: "Unexpected error (no details leave the process)",
    503: "The document store is not reachable, or the service is busy (Retry-After)",
}


def _errors_for(path: str, op: dict, settings: Settings) -> list[int]:
    """The statuses an operation can answer besides its own: what api/guards.py checks before the body and
    what api/errors.py turns exceptions into."""
    codes = [400, 408, 413, 500, 503]  # 503: the store is down, or too many requests are in progress
    if not settings.api_key_roles and not settings.allow_open_network:
        codes.append(421)
    if path.startswith("/v1/"):
        codes += [403, 429]  # 403: the role check, or a cross-origin write in open mode
        if settings.api_key_roles:
            codes.append(401)
    if op.get("parameters") or op.get("requestBody"):
        codes.append(422)
    return codes


# What a response hands to the next call (OpenAPI links): a generated client and a stateful fuzzer follow them.
# An upload links to its job only: the document exists once the job is done, not when the upload is accepted.
_LINKS = [
    ("/v1/documents", "post", "202", "GetJob", "/v1/jobs/{job_id}", "get", {"job_id": "$response.body#/id"}),
    ("/v1/ask", "post", "200", "ForgetConversation", "/v1/conversations/{conversation_id}", "delete",
     {"conversation_id": "$response.body#/conversation_id"}),
]


def _add_links(doc: dict) -> None:
    paths = doc["paths"]
    for path, method, status, name, target, target_method, parameters in _LINKS:
        response = paths[path][method]["responses"][status]
        response.setdefault("links", {})[name] = {"operationId": paths[target][target_method]["operationId"],
                                                  "parameters": parameters}


def install(app: FastAPI, settings: Settings) -> None:
    def schema() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, ops in doc["paths"].items():
            for op in ops.values():
                if not settings.api_key_roles:
                    op.pop("security", None)  # nothing to authenticate: every request is served
                responses = op["responses"]
                for code in _errors_for(path, op, settings):
                    entry = responses.setdefault(str(code), {})
                    if code == 422:  # FastAPI's own 422 is not the body the handler in api/errors.py sends
                        entry.clear()
                    entry.setdefault("description", _DESCRIPTIONS[code])
                    own = entry.get("content", {}).get("application/json", {}).get("schema")
                    # a route's own body for this status (readyz's 503), or the guard's error body
                    schema = {"anyOf": [own, _ERROR_REF]} if own and own != _ERROR_REF else _ERROR_REF
                    entry["content"] = {"application/json": {"schema": schema}}
                    if code == 429:
                        entry["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1},
                                                            "description": "seconds to wait"}}
        _add_links(doc)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        if not settings.api_key_roles:
            doc["components"].pop("securitySchemes", None)
        app.openapi_schema = doc
        return doc

    app.openapi = schema  # type: ignore[method-assign]
