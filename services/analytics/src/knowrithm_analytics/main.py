"""The analytics service app: projections kept from events, analytics read from them, the
audit log, exports, system metrics and webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.audit.endpoints import router as audit_router
from knowrithm_analytics.business.endpoints import router as business_router
from knowrithm_analytics.config import PROJECTIONS_CONSUMER, AnalyticsSettings
from knowrithm_analytics.exports.endpoints import router as exports_router
from knowrithm_analytics.exports.jobs import export_worker
from knowrithm_analytics.models import SCHEMA, shared
from knowrithm_analytics.projections.agents import apply_state
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_analytics.projections.metrics import business_metrics
from knowrithm_analytics.system.endpoints import router as system_router
from knowrithm_analytics.system.sampler import system_sampler
from knowrithm_analytics.usage.endpoints import router as usage_router
from knowrithm_analytics.webhooks.endpoints import router as webhooks_router
from knowrithm_analytics.webhooks.service import webhook_backgrounds
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.queries import agents_fallback, close_agents_owner
from knowrithm_common.service import Background, ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router

__all__ = ["PROJECTIONS_CONSUMER", "AnalyticsSettings", "create_app"]


def projections_consumer(app: FastAPI) -> EventConsumer:
    """The durable consumer that keeps every projection from the EVENTS stream."""
    return EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable=app.state.settings.projections_consumer,
        filter_subject="events.>",
        handlers=HANDLERS,
        # One transaction per fetched batch: ~5x the events/s of one per event
        # (bench/analytics_projection.py); the handlers are idempotent either way.
        batch=256,
        transaction_per_batch=True,
    )


def consumers(app: FastAPI) -> Sequence[Background]:
    projections = projections_consumer(app)
    app.state.projections = projections
    return [
        projections,
        *webhook_backgrounds(app),
        export_worker(app),
        business_metrics(app),
        system_sampler(app),
    ]


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
        consumers=consumers,
        on_startup=[build_agents_owner],
        on_shutdown=[close_agents_owner],
        routers=[
            business_router,
            exports_router,
            usage_router,
            audit_router,
            system_router,
            webhooks_router,
            tasks_router(shared.tasks),
        ],
        description="Analytics, audit log, exports, system metrics and webhooks built from events.",
    )
    return create_service_app(spec, settings or AnalyticsSettings())
