"""The agents service app: agents, their LLM and embedding settings, the providers and models catalogue."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from knowrithm_agents.agents import subscribers as agents_subscribers
from knowrithm_agents.agents.endpoints import router as agents_router
from knowrithm_agents.agents.sdk import router as sdk_agents_router
from knowrithm_agents.config import AgentsSettings
from knowrithm_agents.models import SCHEMA, shared
from knowrithm_agents.providers.endpoints import router as providers_router
from knowrithm_agents.providers.seed import add_missing_builtins
from knowrithm_agents.settings.endpoints import router as settings_router
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router

logger = logging.getLogger(__name__)


async def seed_catalogue(app: FastAPI) -> None:
    """Add the built-in providers and models the catalogue has never had (every start, any replica)."""
    async with app.state.db.session() as session, session.begin():
        counts = await add_missing_builtins(session)
    if counts.providers_created or counts.models_created:
        logger.info("catalogue: %d built-in providers and %d models added",
                    counts.providers_created, counts.models_created)


def create_app(settings: AgentsSettings | None = None) -> FastAPI:
    """Build the agents app (uvicorn --factory knowrithm_agents.main:create_app)."""
    spec = ServiceSpec(
        name="agents",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[
            providers_router,
            settings_router,
            agents_router,
            sdk_agents_router,
            tasks_router(shared.tasks),
        ],
        subscribers=[agents_subscribers.subscribers],
        on_startup=[seed_catalogue],
        description="Agents, LLM and embedding settings, providers and models.",
    )
    return create_service_app(spec, settings or AgentsSettings())
