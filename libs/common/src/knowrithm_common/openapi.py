"""The shared error shape in the OpenAPI documents, and the error statuses routes declare.

Every 4xx and 5xx body is `{"success": false, "error", "message", "detail"}` (DESIGN §2); the
documents name it `Error`. Three layers document who answers what:
- every service (`install_openapi`): FastAPI's 422 schema becomes `Error`, and an operation
  that takes a body also answers 400 (a body that is not JSON, or not UTF-8);
- each route: the statuses only its handler can answer, `responses=errors(404, 409)`; a route
  whose tenancy subject takes `?company_id=` answers 404 and 400 too (added here);
- the gateway, when it merges the documents: what its policy makes possible (401, 403, 404
  for ids in the path, 413, 429, 502-504; see knowrithm_gateway.openapi).
A 500 is never documented: no request may end in one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR = "Error"
ERROR_REF = f"#/components/schemas/{ERROR}"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR,
    "description": "Every error, whatever the status: a stable code, a message for people, details.",
    "type": "object",
    "required": ["success", "error", "message"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "error": {"type": "string", "description": "Stable machine-readable code, e.g. `agent_not_found`"},
        "message": {"type": "string", "description": "What went wrong, for a person"},
        "detail": {"description": "Optional: the fields at fault, the limit passed, ..."},
    },
}

DESCRIPTIONS: dict[int, str] = {
    400: "Bad request: the body is not valid JSON or not UTF-8, or the request contradicts itself",
    401: "Credentials missing, invalid, expired or revoked",
    403: "Authenticated, but not allowed to do this",
    404: "No such resource (another company's resources are not found either)",
    409: "Conflicts with the current state (already exists, in use, ...)",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed: `detail` lists each field at fault",
    423: "Locked after repeated failed attempts; try again later",
    429: "Too many requests: wait `Retry-After` seconds",
    502: "An upstream service failed to answer",
    503: "A service or a dependency is unavailable; retry later",
    504: "An upstream service did not answer in time",
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One documented error status: its description and the shared error body."""
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def errors(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses its handler answers, in the shared shape.

    `errors(404, 409)` uses the general descriptions; `errors(404, (409, "Name taken"))` says more.
    """
    found: dict[int | str, dict[str, Any]] = {}
    for entry in statuses:
        status, description = entry if isinstance(entry, tuple) else (entry, None)
        found[status] = error_response(status, description)
    return found


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation object of a document."""
    return [
        item[method]
        for item in (document.get("paths") or {}).values()
        for method in _METHODS
        if isinstance(item.get(method), dict)
    ]


def document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the `Error` schema, every 422 in it, and 400 on operations with a body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR] = ERROR_SCHEMA
    for operation in operations(document):
        responses = operation.setdefault("responses", {})
        if "422" in responses:
            responses["422"] = error_response(422)
        if "requestBody" in operation:
            responses.setdefault("400", error_response(400))
        parameters = operation.get("parameters", ())
        if any(p.get("in") == "query" and p.get("name") == "company_id" for p in parameters):
            # The tenancy subjects take `?company_id=` (knowrithm_common.tenancy): a member naming
            # another company gets 404, a super admin who must name one and did not gets 400.
            responses.setdefault("404", error_response(404))
            responses.setdefault("400", error_response(400))
    for name in _FASTAPI_VALIDATION:  # only FastAPI's 422 used them
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document the shared error shape (`document_errors`)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
