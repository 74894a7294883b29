"""The SDK variants of agent writes: settings name the provider (value) and model (name), not ids.

Same rules as the plain routes; unknown names answer 404 naming the field.
"""

from __future__ import annotations

import uuid
from enum import Enum

from fastapi import APIRouter

from knowrithm_agents.agents import service
from knowrithm_agents.agents.endpoints import CREATED, delete_agent
from knowrithm_agents.agents.schemas import AgentOut, SdkAgentCreate, SdkAgentUpdate
from knowrithm_agents.deps import Box
from knowrithm_agents.providers.schemas import Deleted
from knowrithm_agents.settings import service as settings_service
from knowrithm_agents.settings.schemas import ByName
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyUpdate, CompanyWrite

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]
WIDGET = {"widget_config", "widget_script_url"}


@router.post("/api/v1/sdk/agent", **CREATED)
async def create_agent_by_name(
    body: SdkAgentCreate, session: Session, subject: CompanyWrite, box: Box
) -> AgentOut:
    """Create an agent whose settings name providers and models; no `settings`: as POST /agent (admin)."""
    company_id = subject.named(body.company_id)
    fields = body.agent_fields()
    if body.settings is None:
        settings = body.settings_changes()
    else:
        settings = body.settings.model_dump(exclude={*ByName.model_fields, *WIDGET})
        settings.update(await settings_service.ids_by_name(session, body.settings))
        # The reference API puts the agent's widget fields inside `settings`; the body's own win.
        only_in_settings = (WIDGET & body.settings.model_fields_set) - body.model_fields_set
        given = body.settings.model_dump(include=only_in_settings)
        fields.update({k: v for k, v in given.items() if v is not None})
    agent, snap = await service.create_agent(
        session, box, company_id=company_id, fields=fields, settings=settings, actor=subject.actor
    )
    return AgentOut.of(agent, snap)


@router.put("/api/v1/sdk/agent/{agent_id}", response_model=AgentOut, tags=TAGS, responses=errors(409))
async def update_agent_by_name(
    agent_id: uuid.UUID, body: SdkAgentUpdate, session: Session, subject: CompanyUpdate, box: Box
) -> AgentOut:
    """Change the fields given; `settings` may name another provider or model (admin)."""
    agent = await service.get_agent(session, agent_id, subject.company_id)
    settings = await service.settings_by_name(session, agent, body.settings) if body.settings else {}
    snap = await service.update_agent(
        session,
        box,
        agent,
        changes=body.agent_changes(),
        settings=settings,
        adopt=body.llm_settings_id,
        actor=subject.actor,
    )
    return AgentOut.of(agent, snap)


# The same soft delete as DELETE /api/v1/agent/{agent_id}.
router.add_api_route(
    "/api/v1/sdk/agent/{agent_id}", delete_agent, methods=["DELETE"], response_model=Deleted, tags=TAGS
)
