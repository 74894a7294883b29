"""The conversations service app (conversations, leads, widget arrive with their issue)."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.tasks import tasks_router
from knowrithm_conversations.models import SCHEMA, platform


def create_app(settings: BaseServiceSettings | None = None) -> FastAPI:
    """Build the conversations app (uvicorn --factory knowrithm_conversations.main:create_app)."""
    spec = ServiceSpec(
        name="conversations",
        schema=SCHEMA,
        outbox=platform.outbox,
        routers=[tasks_router(platform.tasks)],
        description="Conversations, messages, leads and the chat widget.",
    )
    return create_service_app(spec, settings or BaseServiceSettings())
