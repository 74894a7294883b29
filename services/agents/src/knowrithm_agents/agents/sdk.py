"""The SDK variants of agent writes: settings name the provider (value) and model (name), not ids.

Same rules as the plain routes; unknown names answer 404 naming the field.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from knowrithm_agents.agents import service
from knowrithm_agents.agents.endpoints import out
from knowrithm_agents.agents.schemas import AgentOut, SdkAgentCreate, SdkAgentUpdate, SettingsInput
from knowrithm_agents.providers.schemas import Deleted
from knowrithm_agents.settings import service as settings_service
from knowrithm_agents.settings.schemas import ByName
from knowrithm_agents.tenancy import actor_of, scope_of, secret_box, target_company, writers
from knowrithm_common.crypto import SecretBox
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.openapi import errors

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]
Caller = Annotated[Principal, Depends(authenticated)]
Box = Annotated[SecretBox, Depends(secret_box)]


@router.post("/api/v1/sdk/agent", status_code=201, response_model=AgentOut, tags=TAGS, dependencies=writers(),
             responses=errors(404, 409))
async def create_agent_by_name(
    body: SdkAgentCreate, request: Request, session: Session, caller: Caller, box: Box
) -> AgentOut:
    """Create an agent whose settings name providers and models; no `settings`: as POST /agent (admin)."""
    company_id = target_company(caller, body.company_id)
    fields = body.model_dump(exclude={"company_id", "settings", *SettingsInput.model_fields})
    if body.settings is None:
        settings = body.settings_changes()
    else:
        widget = {"widget_config", "widget_script_url"}
        settings = body.settings.model_dump(exclude={*ByName.model_fields, *widget})
        settings.update(await settings_service.ids_by_name(session, body.settings))
        # The reference API puts the agent's widget fields inside `settings`; the body's own win.
        only_in_settings = (widget & body.settings.model_fields_set) - body.model_fields_set
        given = body.settings.model_dump(include=only_in_settings)
        fields.update({k: v for k, v in given.items() if v is not None})
    agent, snap = await service.create_agent(
        session, box, company_id=company_id, fields=fields, settings=settings, actor=actor_of(request, caller)
    )
    return out(agent, snap)


@router.put(
    "/api/v1/sdk/agent/{agent_id}", response_model=AgentOut, tags=TAGS, dependencies=writers("update"),
    responses=errors(409)
)
async def update_agent_by_name(
    agent_id: uuid.UUID, body: SdkAgentUpdate, request: Request, session: Session, caller: Caller, box: Box
) -> AgentOut:
    """Change the fields given; `settings` may name another provider or model (admin)."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    settings = await service.settings_by_name(session, agent, body.settings) if body.settings else {}
    snap = await service.update_agent(
        session,
        box,
        agent,
        changes=body.model_dump(include=body.model_fields_set - {"settings", "llm_settings_id"}),
        settings=settings,
        adopt=body.llm_settings_id,
        actor=actor_of(request, caller),
    )
    return out(agent, snap)


@router.delete(
    "/api/v1/sdk/agent/{agent_id}", response_model=Deleted, tags=TAGS, dependencies=writers("delete")
)
async def delete_agent_by_sdk(
    agent_id: uuid.UUID, request: Request, session: Session, caller: Caller
) -> Deleted:
    """Soft-delete an agent (admin)."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    await service.delete_agent(session, agent, actor=actor_of(request, caller))
    return Deleted(message="Agent deleted")
