"""The ingestion API app (documents, search, websites arrive with their issue)."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.tasks import tasks_router
from knowrithm_ingestion.models import SCHEMA, platform


def create_app(settings: BaseServiceSettings | None = None) -> FastAPI:
    """Build the ingestion API app (uvicorn --factory knowrithm_ingestion.main:create_app)."""
    spec = ServiceSpec(
        name="ingestion",
        schema=SCHEMA,
        outbox=platform.outbox,
        routers=[tasks_router(platform.tasks)],
        description="Documents, chunks, web sites, database sources and search.",
    )
    return create_service_app(spec, settings or BaseServiceSettings())
