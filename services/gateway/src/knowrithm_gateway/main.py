"""The gateway app: `uvicorn --factory knowrithm_gateway.main:create_app`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from knowrithm_common.context import RequestContextMiddleware
from knowrithm_common.errors import install_error_handlers
from knowrithm_common.health import health_router
from knowrithm_common.logging import configure_logging
from knowrithm_common.metrics import PrometheusMiddleware, metrics_endpoint
from knowrithm_common.telemetry import setup_tracing
from knowrithm_gateway.config import GatewaySettings
from knowrithm_gateway.console import ConsoleProxy, is_console
from knowrithm_gateway.health import platform_health_router
from knowrithm_gateway.openapi import openapi_router
from knowrithm_gateway.proxy import Proxy, is_proxied
from knowrithm_gateway.runtime import GatewayRuntime


class GatewayApp(FastAPI):
    """FastAPI for the gateway's own endpoints; proxied paths go straight to the proxy."""

    proxy: ASGIApp | None = None
    console: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Ahead of FastAPI's middleware stack on purpose: see proxy.py's docstring.
        if self.proxy is not None and scope["type"] == "http" and is_proxied(scope["path"]):
            await self.proxy(scope, receive, send)
            return
        if self.console is not None and scope["type"] == "http" and is_console(scope["path"]):
            await self.console(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway: proxy for every public route, plus health, metrics and merged docs."""
    settings = settings or GatewaySettings()
    configure_logging("gateway")
    setup_tracing("gateway", settings.otel_exporter_otlp_endpoint)
    runtime = GatewayRuntime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # FastAPI's own docs would describe only the gateway; openapi.py serves the merged ones.
    app = GatewayApp(
        title="Knowrithm gateway", lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(platform_health_router())
    app.include_router(health_router(lambda: {"redis": runtime.redis.ping}))
    app.include_router(openapi_router())
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.add_middleware(PrometheusMiddleware, service="gateway")
    app.add_middleware(RequestContextMiddleware)
    app.proxy = _with_cors(Proxy(runtime), settings)
    app.console = ConsoleProxy(runtime)  # same-origin pages: no CORS
    if settings.allowed_origins():
        app.add_middleware(CORSMiddleware, **_cors_options(settings))
    return app


def _with_cors(proxy: ASGIApp, settings: GatewaySettings) -> ASGIApp:
    if not settings.allowed_origins():
        return proxy
    return CORSMiddleware(proxy, **_cors_options(settings))


def _cors_options(settings: GatewaySettings) -> dict[str, Any]:
    origins = settings.allowed_origins()
    return {
        "allow_origins": origins, "allow_methods": ["*"], "allow_headers": ["*"],
        # Browsers refuse credentials with "*"; named origins may send cookies/auth headers.
        "allow_credentials": origins != ["*"],
        "expose_headers": [
            "X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ],
    }
