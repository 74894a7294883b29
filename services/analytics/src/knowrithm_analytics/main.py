"""The analytics service app: projections kept from events, read by admins."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.models import SCHEMA, platform
from knowrithm_analytics.projections.endpoints import router as metrics_router
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.tasks import tasks_router

PROJECTIONS_CONSUMER = "analytics-projections"


class AnalyticsSettings(BaseServiceSettings):
    """Analytics reads only the shared variables for now."""


def consumers(app: FastAPI) -> Sequence[EventConsumer]:
    return [
        EventConsumer(
            db=app.state.db, processed=platform.processed, nats=app.state.nats,
            durable=PROJECTIONS_CONSUMER, filter_subject="events.>", handlers=HANDLERS,
        )
    ]


def create_app(settings: BaseServiceSettings | None = None) -> FastAPI:
    """Build the analytics app (uvicorn --factory knowrithm_analytics.main:create_app)."""
    spec = ServiceSpec(
        name="analytics", schema=SCHEMA, outbox=platform.outbox, consumers=consumers,
        routers=[metrics_router, tasks_router(platform.tasks)],
        description="Analytics, audit log and metrics built from events.",
    )
    return create_service_app(spec, settings or AnalyticsSettings())
