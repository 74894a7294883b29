"""The analytics service app: projections kept from events, read by admins."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from knowrithm_analytics.models import SCHEMA, platform
from knowrithm_analytics.projections.endpoints import router as metrics_router
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.tasks import tasks_router

PROJECTIONS_CONSUMER = "analytics-projections"


class AnalyticsSettings(BaseServiceSettings):
    """Analytics settings (env prefix ANALYTICS_)."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    # The durable consumer's name: its position in the stream is kept under this name.
    projections_consumer: str = PROJECTIONS_CONSUMER


def consumers(app: FastAPI) -> Sequence[EventConsumer]:
    return [
        EventConsumer(
            db=app.state.db,
            processed=platform.processed,
            nats=app.state.nats,
            durable=app.state.settings.projections_consumer,
            filter_subject="events.>",
            handlers=HANDLERS,
        )
    ]


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    """Build the analytics app (uvicorn --factory knowrithm_analytics.main:create_app)."""
    spec = ServiceSpec(
        name="analytics",
        schema=SCHEMA,
        outbox=platform.outbox,
        consumers=consumers,
        routers=[metrics_router, tasks_router(platform.tasks)],
        description="Analytics, audit log and metrics built from events.",
    )
    return create_service_app(spec, settings or AnalyticsSettings())
