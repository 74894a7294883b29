"""One error base and the handlers that render the shared error shape (DESIGN §2).

Shape: {"success": false, "error": "<code>", "message": "<human text>", "detail": <optional>}

An exception nobody expected is answered by `UnexpectedErrorMiddleware`, not by
`app.exception_handler(Exception)`: Starlette runs that handler in its outermost
ServerErrorMiddleware, which sends the response and then re-raises, and uvicorn closes the
connection when an exception follows a started response (`run_asgi`). The gateway pools its
upstream connections, so the next request on that socket, often another tenant's, met a dead
connection (502). The middleware logs the error and answers it as an ordinary response, so
the app returns normally and the connection stays usable.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from knowrithm_common.context import HttpMiddleware

logger = logging.getLogger(__name__)


class KnowrithmError(Exception):
    """Base for every expected failure; carries its HTTP status and a stable error code."""

    status_code = 500
    code = "internal_error"
    message = "Internal server error"

    def __init__(
        self, message: str | None = None, *, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.message = message or self.message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(KnowrithmError):
    status_code, code, message = 400, "bad_request", "Bad request"


class InvalidJSON(BadRequest):
    code, message = "invalid_json", "Request body is not valid JSON"


class InvalidEncoding(BadRequest):
    code, message = "invalid_encoding", "Request body is not valid UTF-8"


class Unauthorized(KnowrithmError):
    status_code, code, message = 401, "unauthorized", "Authentication required"


class Forbidden(KnowrithmError):
    status_code, code, message = 403, "forbidden", "Not allowed"


class NotFound(KnowrithmError):
    status_code, code, message = 404, "not_found", "Resource not found"


class MethodNotAllowed(KnowrithmError):
    status_code, code, message = 405, "method_not_allowed", "Method not allowed"


class Conflict(KnowrithmError):
    status_code, code, message = 409, "conflict", "Resource already exists"


# Facts more than one service states: one error each, the same code and status everywhere.
class CompanyNotFound(NotFound):
    code, message = "company_not_found", "Company not found"


class AgentNotFound(NotFound):
    code, message = "agent_not_found", "Agent not found"


class AgentNotAvailable(NotFound):
    """A visitor's agent (widget, lead registration, page registration) is gone or not active."""

    code = "agent_not_available"
    message = "This chat is not available: the agent does not exist or is not active"


class OriginNotAllowed(Forbidden):
    """A browser page whose origin the agent's widget settings do not allow."""

    code = "origin_not_allowed"
    message = "This site may not use this agent's chat; an admin can add it to the agent's allowed origins"


class AgentNotConfigured(Conflict):
    code = "agent_not_configured"
    message = "The agent has no settings for this; an admin should add settings for it or its company"


class PayloadTooLarge(KnowrithmError):
    status_code, code, message = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(KnowrithmError):
    status_code, code, message = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(KnowrithmError):
    status_code, code, message = 422, "validation_error", "Request validation failed"


class RateLimited(KnowrithmError):
    status_code, code, message = 429, "rate_limited", "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: int, detail: Any = None) -> None:
        super().__init__(message, detail=detail, headers={"Retry-After": str(retry_after)})


class BadGateway(KnowrithmError):
    status_code, code, message = 502, "bad_gateway", "Upstream service failed"


class ServiceUnavailable(KnowrithmError):
    status_code, code, message = 503, "service_unavailable", "Service unavailable"


class GatewayTimeout(KnowrithmError):
    status_code, code, message = 504, "gateway_timeout", "Upstream service timed out"


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The shared error shape as a dict."""
    body: dict[str, Any] = {"success": False, "error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return body


def error_response(exc: KnowrithmError) -> JSONResponse:
    """Render a KnowrithmError as a JSON response."""
    return JSONResponse(
        error_body(exc.code, exc.message, exc.detail),
        status_code=exc.status_code,
        headers=exc.headers,
    )


# A bare HTTP error (Starlette's 404 for no route, its 405) answers with our error of its status.
_HTTP_CODES = {
    error.status_code: error.code
    for error in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, PayloadTooLarge,
        UnsupportedMediaType, RateLimited,
    )
}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure of this app answer in the shared error shape.

    Adds `UnexpectedErrorMiddleware` as the outermost middleware so far: call it after the
    middlewares it should guard and before those that should see its 500 (metrics, request id).
    """

    @app.exception_handler(KnowrithmError)
    async def _known(_: Request, exc: KnowrithmError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _validation_detail(exc)
        if any(d["type"] == "json_invalid" for d in detail):
            return error_response(InvalidJSON(detail=detail))
        return error_response(ValidationFailed(detail=detail))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":  # no route matched: say which
            message = f"This platform has no operation {request.method} {request.url.path}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(json.JSONDecodeError)
    async def _json(_: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return error_response(InvalidJSON(detail=str(exc)))

    app.add_exception_handler(IntegrityError, database_refusal)
    app.add_exception_handler(DataError, database_refusal)
    app.add_middleware(UnexpectedErrorMiddleware)


class UnexpectedErrorMiddleware(HttpMiddleware):
    """Answers an exception that escaped the app with the shared-shape 500, keeping the connection."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            # The request id rides on the log record (logging.request_id_var).
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise  # part of a response is out: only a cut connection tells the client
            await error_response(KnowrithmError())(scope, receive, send)


# PostgreSQL SQLSTATEs of an IntegrityError: (status, error code, message).
_INTEGRITY = {
    "23505": (409, "conflict", "A resource with these values already exists"),
    "23P01": (409, "conflict", "This conflicts with an existing resource"),
    "23503": (422, "unknown_reference", "A referenced resource does not exist"),
    "23502": (422, "missing_value", "A required value is missing"),
    "23514": (422, "constraint_violation", "A value breaks a rule of this resource"),
}


async def database_refusal(_: Request, exc: Exception) -> JSONResponse:
    """A database refusal no service turned into its own error: 409/422, named, and logged.

    The safety net behind the explicit checks services make (unknown ids, duplicates): the
    caller learns what kind of problem it was instead of a bare 500, and the log keeps the
    constraint so the missing explicit check can be added.
    """
    orig = getattr(exc, "orig", None)
    state: str | None = getattr(orig, "sqlstate", None)
    constraint: str | None = getattr(getattr(orig, "diag", None), "constraint_name", None)
    logger.error(
        "database refused a request (sqlstate %s, constraint %s): %s",
        state, constraint, str(orig or exc).splitlines()[0],
    )
    if isinstance(exc, IntegrityError):
        status, code, message = _INTEGRITY.get(
            state or "", (409, "integrity_error", "The change conflicts with existing data")
        )
    else:
        status, code, message = 422, "invalid_value", "A value cannot be stored as given"
    detail = {k: v for k, v in (("sqlstate", state), ("constraint", constraint)) if v}
    return JSONResponse(error_body(code, message, detail or None), status_code=status)
