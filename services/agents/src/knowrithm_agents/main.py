"""The agents service app (agents, settings, providers arrive with their issue)."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_agents.models import SCHEMA, platform
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.tasks import tasks_router


def create_app(settings: BaseServiceSettings | None = None) -> FastAPI:
    """Build the agents app (uvicorn --factory knowrithm_agents.main:create_app)."""
    spec = ServiceSpec(
        name="agents",
        schema=SCHEMA,
        outbox=platform.outbox,
        routers=[tasks_router(platform.tasks)],
        description="Agents, LLM and embedding settings, providers and models.",
    )
    return create_service_app(spec, settings or BaseServiceSettings())
