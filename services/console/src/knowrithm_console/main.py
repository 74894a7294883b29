"""The console: `uvicorn --factory knowrithm_console.main:create_app`; the gateway serves it at /console."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from knowrithm_common.context import RequestContextMiddleware
from knowrithm_common.health import health_router
from knowrithm_common.logging import configure_logging
from knowrithm_common.metrics import PrometheusMiddleware, metrics_endpoint
from knowrithm_common.telemetry import setup_tracing
from knowrithm_console.api import Api, ApiError, ApiUnavailable, ImpersonationEnded, SessionEnded
from knowrithm_console.config import ConsoleSettings
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages import (
    account,
    agents,
    audit,
    companies,
    companies_bulk,
    conversations,
    gaps,
    home,
    impersonation,
    leads,
    playground,
    profile,
)
from knowrithm_console.pages import analytics as analytics_page
from knowrithm_console.pages import company as company_page
from knowrithm_console.pages import events as events_page
from knowrithm_console.pages import keys as keys_page
from knowrithm_console.pages import knowledge as knowledge_page
from knowrithm_console.pages import members as members_page
from knowrithm_console.pages import platform_import as platform_import_page
from knowrithm_console.pages import providers as providers_page
from knowrithm_console.pages import system as system_page
from knowrithm_console.pages import timeline as timeline_page
from knowrithm_console.pages import webhook_deliveries as deliveries_page
from knowrithm_console.pages import webhooks as webhooks_page
from knowrithm_console.pages.messages import message_of
from knowrithm_console.security import CsrfRefused, SecurityHeaders, csrf_guard
from knowrithm_console.sessions import SessionStore
from knowrithm_console.web import PREFIX, STATIC_DIR, end_impersonation, page_of, redirect, render

logger = logging.getLogger(__name__)


class StaticCache:
    """Versioned static files (`?v=<content hash>`) may be cached for a year; others revalidate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(f"{PREFIX}/static/"):
            await self.app(scope, receive, send)
            return
        versioned = b"v=" in scope.get("query_string", b"")
        value = b"public, max-age=31536000, immutable" if versioned else b"no-cache"

        async def with_cache(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"cache-control", value)]
            await send(message)

        await self.app(scope, receive, with_cache)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console: its pages, static files, health and metrics."""
    settings = settings or ConsoleSettings()
    configure_logging("console")
    setup_tracing("console", settings.otel_exporter_otlp_endpoint)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        transport = httpx.AsyncHTTPTransport(local_address=settings.api_local_address, retries=1)
        http = httpx.AsyncClient(
            base_url=settings.api_url, transport=transport, timeout=settings.api_timeout_seconds,
            follow_redirects=False,
        )
        store = SessionStore(
            redis, idle_seconds=settings.session_idle_minutes * 60,
            anonymous_seconds=settings.anonymous_session_minutes * 60,
        )
        app.state.redis, app.state.sessions = redis, store
        app.state.api = Api(http, store, redis, leeway=settings.refresh_leeway_seconds,
                            lock_seconds=settings.refresh_lock_seconds)
        try:
            yield
        finally:
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Knowrithm console", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
        dependencies=[Depends(csrf_guard)],
    )
    app.include_router(account.router)
    app.include_router(home.router)
    app.include_router(agents.router)
    app.include_router(playground.router)
    app.include_router(conversations.router)
    app.include_router(knowledge_page.router)
    app.include_router(timeline_page.router)
    app.include_router(leads.router)
    app.include_router(gaps.router)
    app.include_router(profile.router)
    app.include_router(keys_page.router)
    app.include_router(members_page.router)
    app.include_router(company_page.router)
    app.include_router(platform_import_page.router)
    app.include_router(providers_page.router)
    app.include_router(system_page.router)
    app.include_router(audit.router)  # lane superco: audit log, companies, users, impersonation
    app.include_router(companies_bulk.router)  # before companies: /deleted and /bulk are not ids
    app.include_router(companies.router)
    app.include_router(impersonation.router)
    app.include_router(deliveries_page.router)  # before webhooks: /webhooks/signature is no id
    app.include_router(webhooks_page.router)
    app.include_router(events_page.router)
    app.include_router(analytics_page.router)
    # Only static files are compressed: pages carry the CSRF token next to text a request can
    # put there, and compression would let their length tell the token (BREACH).
    app.mount(f"{PREFIX}/static", GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=512),
              name="static")
    app.include_router(health_router(lambda: {"redis": app.state.redis.ping}))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    _install_error_pages(app)
    app.add_middleware(StaticCache)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PrometheusMiddleware, service="console")
    app.add_middleware(RequestContextMiddleware)
    return app


def _install_error_pages(app: FastAPI) -> None:
    """Failures answer as pages in the layout, with the status a browser (and a test) can see."""

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        page = await page_of(request)
        return await render(page, "error.html", status=403, title=_("This form has expired"),
                            message=_("The page was open too long or came from elsewhere. "
                                      "Reload it and send the form again."))

    @app.exception_handler(SessionEnded)
    async def _ended(request: Request, _exc: SessionEnded) -> Response:
        page = await page_of(request)
        return redirect(page, f"{PREFIX}/session-ended")

    @app.exception_handler(ImpersonationEnded)
    async def _acting_over(request: Request, _exc: ImpersonationEnded) -> Response:
        page = await page_of(request)
        ran_out = page.session is not None and page.session.impersonation_over
        await end_impersonation(page, why="expired" if ran_out else "refused")
        return redirect(page, f"{PREFIX}/")

    @app.exception_handler(ApiUnavailable)
    async def _unavailable(request: Request, _exc: ApiUnavailable) -> Response:
        page = await page_of(request)
        return await render(page, "error.html", status=503, title=_("Temporarily unavailable"),
                            message=_("The service did not answer. Try again in a moment."))

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        page = await page_of(request)
        titles = {403: _("Not allowed"), 404: _("Not found")}
        return await render(page, "error.html", status=exc.status,
                            title=titles.get(exc.status, _("Something went wrong")), message=message_of(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        page = await page_of(request)
        return await render(page, "error.html", status=400, title=_("Something went wrong"),
                            message=_("The form could not be read. Go back and try again."))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith(PREFIX) or request.url.path.startswith(f"{PREFIX}/static/"):
            return Response(status_code=exc.status_code, headers=getattr(exc, "headers", None))
        page = await page_of(request)
        if exc.status_code == 404:
            return await render(page, "error.html", status=404, title=_("Not found"),
                                message=_("There is no page at this address."))
        return await render(page, "error.html", status=exc.status_code, title=_("Something went wrong"),
                            message=_("The request could not be handled."))
