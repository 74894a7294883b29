"""One OpenAPI document for the whole API, merged from the services' own, and Swagger UI on it.

Each service documents its routes; the gateway keeps the paths it routes to that service,
merges components (renaming a clashing schema per service) and caches the result briefly.
A service that is down simply leaves its paths out until the next rebuild. Each operation's
`security` comes from the gateway's policy table (policies.py), which is what is enforced,
and so do the error statuses the gateway itself can answer for it (`_gateway_statuses`): the
services document theirs (knowrithm_common.openapi), the gateway adds 401, 403, 404, 413, 429
and 502-504 where its policy makes them possible, all in the shared `Error` shape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from knowrithm_common.openapi import ERROR, ERROR_SCHEMA, error_response
from knowrithm_gateway.policies import Access, Operation, OperationTable
from knowrithm_gateway.routing import RouteTable

logger = logging.getLogger(__name__)

Document = dict[str, Any]
PARTIAL_TTL_SECONDS = 1.0  # how long a merge that lacks a service (down, or slow to answer) is kept

_SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "apiSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
}
_BEARER: dict[str, list[str]] = {"bearerAuth": []}
_API_KEY: dict[str, list[str]] = {"apiKey": [], "apiSecret": []}
_SECURITY_BY_ACCESS = {
    Access.PUBLIC: [{}, _BEARER, _API_KEY],  # credentials optional (verified when sent)
    Access.AUTHENTICATED: [_BEARER, _API_KEY],
    Access.USER: [_BEARER],
}
_SECURITY = _SECURITY_BY_ACCESS[Access.AUTHENTICATED]  # the default for undeclared operations
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_HEALTH: Document = {"get": {
    "tags": ["Health"], "summary": "Health of the platform",
    "description": "Every service's readiness; 200 when all are healthy, 503 otherwise. "
                   "Public: no credentials needed.",
    "security": [],
    "responses": {"200": {"description": "healthy"}, "503": {"description": "degraded"}},
}}
_GATEWAY_PATHS: Document = {
    "/health": _HEALTH,
    "/api/v1/health": _HEALTH,  # the same, where the official SDK's health_check asks
    "/api/v1/tasks/{task_id}/status": {"get": {
        "tags": ["Tasks"], "summary": "Status of a long-running task",
        "parameters": [{"name": "task_id", "in": "path", "required": True,
                        "schema": {"type": "string", "format": "uuid"}}],
        "responses": {"200": {"description": "status, progress, result, error"},
                      "404": error_response(404, "No such task (or another company's)"),
                      "422": error_response(422, "The task id is not a UUID")},
    }},
    # (lane platform) answered by the gateway itself: platform_health.py
    "/api/v1/super-admin/health": {"get": {
        "tags": ["Health"], "summary": "Health of every process (super admins)",
        "description": "Each process (gateway first) with the status its readiness reported (up, "
                       "degraded, down: not answering within the health timeout), its dependency "
                       "checks and response time. Always 200: a service down is the report.",
        "responses": {"200": {"description": "status, checked_at, services[name, status, checks, "
                                             "response_ms, error]"}},
    }},
}


@dataclass(kw_only=True)
class OpenApiAggregator:
    """Fetches and merges the services' documents; caches the merge for `ttl_seconds`."""

    session: aiohttp.ClientSession
    upstreams: Mapping[str, str]
    routes: RouteTable
    operations: OperationTable
    ttl_seconds: float
    timeout_seconds: float
    _cached: Document | None = field(default=None, init=False)
    _expires: float = field(default=0.0, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def document(self) -> Document:
        """The merged document, rebuilt when older than the cache time."""
        async with self._lock:
            if self._cached is None or time.monotonic() >= self._expires:
                documents = await asyncio.gather(
                    *(self._fetch(service, base) for service, base in self.upstreams.items())
                )
                self._cached = merge_documents(
                    dict(zip(self.upstreams, documents, strict=True)), routes=self.routes,
                    operations=self.operations,
                )
                # A merge missing a service is kept only briefly: the next reader asks again.
                partial = "x-unavailable-services" in self._cached
                ttl = min(self.ttl_seconds, PARTIAL_TTL_SECONDS) if partial else self.ttl_seconds
                self._expires = time.monotonic() + ttl
            return self._cached

    async def _fetch(self, service: str, base: str) -> Document | None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        try:
            async with self.session.get(f"{base}/openapi.json", timeout=timeout) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
                return document if isinstance(document, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("no OpenAPI document from %s: %r", service, exc)
            return None


def merge_documents(
    documents: Mapping[str, Document | None], *, routes: RouteTable, operations: OperationTable
) -> Document:
    """One document from the services' documents (None = service unavailable)."""
    merged: Document = {
        "openapi": "3.1.0",
        "info": {"title": "Knowrithm API", "version": "1.0.0",
                 "description": "Every public route of the platform, through the gateway."},
        "paths": {},
        "components": {"securitySchemes": dict(_SECURITY_SCHEMES), "schemas": {ERROR: ERROR_SCHEMA}},
        "security": _SECURITY,
    }
    unavailable = []
    for service, document in documents.items():
        if document is None:
            unavailable.append(service)
            continue
        _merge_one(merged, service, document, routes)
    merged["paths"].update(_GATEWAY_PATHS)
    _apply_policies(merged["paths"], routes, operations)
    if unavailable:
        merged["x-unavailable-services"] = unavailable
    return merged


def _merge_one(merged: Document, service: str, document: Document, routes: RouteTable) -> None:
    components: Document = document.get("components") or {}
    renames = _clashing_names(merged["components"], components, service)
    components = _rewrite_refs(components, renames)
    for section, entries in components.items():
        target = merged["components"].setdefault(section, {})
        for name, value in entries.items():
            ref = renames.get(f"#/components/{section}/{name}")
            target.setdefault(ref.rsplit("/", 1)[1] if ref else name, value)
    for path, item in (document.get("paths") or {}).items():
        # Only what the gateway really sends to this service: no health or metrics routes.
        route = routes.match(path)
        if route is not None and route.service == service:
            merged["paths"][path] = _rewrite_refs(item, renames)


def _apply_policies(paths: Document, routes: RouteTable, operations: OperationTable) -> None:
    """Each routed operation's security and policy, as the gateway enforces them."""
    for path, item in list(paths.items()):
        route = routes.match(path)
        if route is None:
            continue
        item = paths[path] = dict(item)  # a copy: the gateway's own paths are module constants
        for method in _METHODS:
            if not isinstance(item.get(method), dict):
                continue
            policy = operations.policy(method.upper(), path, route_template=route.template)
            operation = item[method]
            item[method] = {
                **operation, "security": _SECURITY_BY_ACCESS[policy.access],
                "x-knowrithm-policy": {
                    "access": str(policy.access),
                    "roles": sorted(policy.roles) if policy.roles is not None else None,
                    "api_key_scope": policy.scope, "rate_limit_class": policy.rate,
                },
                # The service's own description of a status wins over the gateway's general one.
                "responses": dict(sorted(
                    {**_gateway_statuses(operation, policy, path), **operation.get("responses", {})}.items()
                )),
            }


def _gateway_statuses(operation: Document, policy: Operation, path: str) -> Document:
    """The error statuses the gateway can answer for this operation before (or instead of) its service."""
    statuses = {"401": error_response(401)}
    if policy.access is not Access.PUBLIC:
        statuses["403"] = error_response(403, _forbidden(policy))
    if "{" in path:
        statuses["404"] = error_response(404)
    if "requestBody" in operation:
        limit = f"{policy.max_body} bytes" if policy.max_body else "the upload limit (GATEWAY_MAX_BODY_BYTES)"
        statuses["413"] = error_response(413, f"Request body larger than {limit}")
    statuses["429"] = {**error_response(429), "headers": {"Retry-After": {
        "description": "Seconds until the rate-limit window resets", "schema": {"type": "integer"},
    }}}
    for status in (502, 503, 504):
        statuses[str(status)] = error_response(status)
    return statuses


def _forbidden(policy: Operation) -> str:
    reasons = []
    if policy.roles is not None:
        reasons.append(f"role {' or '.join(sorted(policy.roles))} only")
    if policy.access is Access.USER:
        reasons.append("a user's access token only (not an API key)")
    else:
        reasons.append(f"API keys need the `{policy.scope}` scope")
    if not policy.lead:
        reasons.append("not for chat visitors' lead tokens")
    return "Not allowed: " + "; ".join(reasons)


def _clashing_names(target: Document, components: Document, service: str) -> dict[str, str]:
    """`$ref`s of this service's components whose names another service already uses."""
    prefix = service.title().replace("-", "")
    renames = {}
    for section, entries in components.items():
        existing = target.get(section, {})
        for name, value in entries.items():
            if name in existing and existing[name] != value:
                renames[f"#/components/{section}/{name}"] = f"#/components/{section}/{prefix}{name}"
    return renames


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        return {k: _rewrite_value(k, v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _rewrite_value(key: str, value: Any, renames: Mapping[str, str]) -> Any:
    if key == "$ref" and isinstance(value, str):
        return renames.get(value, value)
    return _rewrite_refs(value, renames)


def openapi_router() -> APIRouter:
    """`/openapi.json` (the merged document) and `/docs` (Swagger UI on it)."""
    router = APIRouter()

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        """The merged OpenAPI document of every service."""
        return JSONResponse(await request.app.state.runtime.openapi.document())

    @router.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI over the merged document."""
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Knowrithm API")

    return router
