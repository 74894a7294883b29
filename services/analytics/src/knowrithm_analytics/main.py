"""The analytics service app: projections kept from events, analytics read from them, the
audit log, exports, system metrics and webhooks."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_analytics.audit.endpoints import router as audit_router
from knowrithm_analytics.business.endpoints import router as business_router
from knowrithm_analytics.config import PROJECTIONS_CONSUMER, AnalyticsSettings
from knowrithm_analytics.eventstream import subscribers as eventstream
from knowrithm_analytics.eventstream.endpoints import router as eventstream_router
from knowrithm_analytics.exports import subscribers as exports
from knowrithm_analytics.exports.endpoints import router as exports_router
from knowrithm_analytics.models import SCHEMA, shared
from knowrithm_analytics.projections import subscribers as projections
from knowrithm_analytics.projections.agents import apply_state
from knowrithm_analytics.system import subscribers as system
from knowrithm_analytics.system.endpoints import router as system_router
from knowrithm_analytics.usage.endpoints import router as usage_router
from knowrithm_analytics.webhooks import subscribers as webhooks
from knowrithm_analytics.webhooks.delivery import close_webhook_tools, open_webhook_tools
from knowrithm_analytics.webhooks.endpoints import router as webhooks_router
from knowrithm_common.queries import agents_fallback, close_agents_owner
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router

__all__ = ["PROJECTIONS_CONSUMER", "AnalyticsSettings", "create_app"]


async def build_agents_owner(app: FastAPI) -> None:
    """Lifespan hook: agents the projection has not seen yet are asked of the agents service."""
    app.state.agents = agents_fallback(
        projection="analytics.agents", db=app.state.db, nats=app.state.nats, apply=apply_state,
        timeout=app.state.settings.agents_lookup_timeout_seconds,
    )


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    """Build the analytics app (uvicorn --factory knowrithm_analytics.main:create_app)."""
    spec = ServiceSpec(
        name="analytics",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[
            business_router,
            exports_router,
            usage_router,
            audit_router,
            system_router,
            webhooks_router,
            eventstream_router,
            tasks_router(shared.tasks),
        ],
        subscribers=[
            projections.subscribers,
            webhooks.subscribers,
            exports.subscribers,
            system.subscribers,
            eventstream.subscribers,
        ],
        on_startup=[build_agents_owner, open_webhook_tools],
        on_shutdown=[close_agents_owner, close_webhook_tools],
        description="Analytics, audit log, exports, system metrics and webhooks built from events.",
    )
    return create_service_app(spec, settings or AnalyticsSettings())
