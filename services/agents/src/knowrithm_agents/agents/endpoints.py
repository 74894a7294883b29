"""HTTP API of agents: CRUD, by-name, soft delete and restore, clone, embed code.

Members read their company's agents (API keys need `read`); admins change them (keys need
write, update or delete by method). Another company's agent answers 404. Writes answer
synchronously with the agent and its effective configuration (never API keys).
"""

from __future__ import annotations

import html
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from knowrithm_agents import configuration as conf
from knowrithm_agents.agents import repository as repo
from knowrithm_agents.agents import service
from knowrithm_agents.agents.schemas import (
    AgentCreate,
    AgentListOut,
    AgentOut,
    AgentUpdate,
    CloneBody,
    EmbedCodeOut,
    SettingsInput,
    Status,
)
from knowrithm_agents.config import AgentsSettings
from knowrithm_agents.models import Agent
from knowrithm_agents.providers.schemas import Deleted
from knowrithm_agents.tenancy import (
    actor_of,
    app_settings,
    readers,
    scope_of,
    secret_box,
    target_company,
    writers,
)
from knowrithm_common.crypto import SecretBox
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.events.agents import AgentSnapshot
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, page_params

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]
Caller = Annotated[Principal, Depends(authenticated)]
Box = Annotated[SecretBox, Depends(secret_box)]


def out(agent: Agent, snap: AgentSnapshot) -> AgentOut:
    return AgentOut.of(agent, snap.configuration)


@router.post("/api/v1/agent", status_code=201, response_model=AgentOut, tags=TAGS, dependencies=writers(),
             responses=errors(404, 409))
async def create_agent(
    body: AgentCreate, request: Request, session: Session, caller: Caller, box: Box
) -> AgentOut:
    """Create an agent; settings fields give it its own settings, else the company's apply (admin)."""
    company_id = target_company(caller, body.company_id)
    fields = body.model_dump(exclude={"company_id", *SettingsInput.model_fields})
    agent, snap = await service.create_agent(
        session,
        box,
        company_id=company_id,
        fields=fields,
        settings=body.settings_changes(),
        actor=actor_of(request, caller),
    )
    return out(agent, snap)


@router.get("/api/v1/agent", response_model=AgentListOut, tags=TAGS, dependencies=readers,
            responses=errors(404))
async def list_agents(
    session: Session,
    caller: Caller,
    page: Annotated[PageParams, Depends(page_params)],
    status: Status | None = Query(None, description="Only agents with this status"),
    search: str | None = Query(None, max_length=200, description="Search in name and description"),
    company_id: uuid.UUID | None = Query(None, description="A company's agents (super admin)"),
) -> AgentListOut:
    """The caller's company's live agents, newest first, with their effective configuration."""
    rows, pagination = await repo.search(
        session, scope_of(caller, company_id), status=status, text=search, page=page
    )
    snaps = await conf.snapshots(session, rows)
    return AgentListOut(agents=[out(a, snaps[a.id]) for a in rows], pagination=pagination)


@router.get("/api/v1/agent/by-name/{name}", response_model=AgentOut, tags=TAGS, dependencies=readers,
            responses=errors(400))
async def agent_by_name(
    name: str,
    session: Session,
    caller: Caller,
    company_id: uuid.UUID | None = Query(None, description="The company (super admin only)"),
) -> AgentOut:
    """The company's live agent with exactly this name."""
    agent = await service.get_by_name(session, target_company(caller, company_id), name)
    return out(agent, await conf.snapshot(session, agent))


@router.get("/api/v1/agent/{agent_id}", response_model=AgentOut, tags=TAGS, dependencies=readers)
async def get_agent(agent_id: uuid.UUID, session: Session, caller: Caller) -> AgentOut:
    """One live agent with its effective configuration."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    return out(agent, await conf.snapshot(session, agent))


@router.put("/api/v1/agent/{agent_id}", response_model=AgentOut, tags=TAGS, dependencies=writers("update"),
            responses=errors(409))
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, request: Request, session: Session, caller: Caller, box: Box
) -> AgentOut:
    """Change the fields given; settings fields change the agent's own settings (admin)."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    snap = await service.update_agent(
        session,
        box,
        agent,
        changes=body.agent_changes(),
        settings=body.settings_changes(),
        adopt=body.llm_settings_id,
        actor=actor_of(request, caller),
    )
    return out(agent, snap)


@router.delete("/api/v1/agent/{agent_id}", response_model=Deleted, tags=TAGS, dependencies=writers("delete"))
async def delete_agent(agent_id: uuid.UUID, request: Request, session: Session, caller: Caller) -> Deleted:
    """Soft-delete an agent; PATCH .../restore brings it back (admin)."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    await service.delete_agent(session, agent, actor=actor_of(request, caller))
    return Deleted(message="Agent deleted")


@router.patch(
    "/api/v1/agent/{agent_id}/restore", response_model=AgentOut, tags=TAGS, dependencies=writers("update"),
    responses=errors(400, 409)
)
async def restore_agent(agent_id: uuid.UUID, request: Request, session: Session, caller: Caller) -> AgentOut:
    """Restore a soft-deleted agent; refused (409) while a live agent has its name (admin)."""
    agent, snap = await service.restore_agent(
        session, agent_id, scope_of(caller), actor=actor_of(request, caller)
    )
    return out(agent, snap)


@router.post(
    "/api/v1/agent/{agent_id}/clone",
    status_code=201,
    response_model=AgentOut,
    tags=TAGS,
    dependencies=writers(),
    responses=errors(409),
)
async def clone_agent(
    agent_id: uuid.UUID,
    request: Request,
    session: Session,
    caller: Caller,
    body: Annotated[CloneBody | None, Body()] = None,
) -> AgentOut:
    """Copy an agent's configuration and own settings (or `llm_settings_id`'s) under a new name (admin)."""
    source = await service.get_agent(session, agent_id, scope_of(caller))
    clone, snap = await service.clone_agent(
        session,
        source,
        name=body.name if body else None,
        adopt=body.llm_settings_id if body else None,
        actor=actor_of(request, caller),
    )
    return out(clone, snap)


@router.get(
    "/api/v1/agent/{agent_id}/embed-code", response_model=EmbedCodeOut, tags=TAGS, dependencies=readers
)
async def embed_code(
    agent_id: uuid.UUID,
    session: Session,
    caller: Caller,
    config: Annotated[AgentsSettings, Depends(app_settings)],
) -> EmbedCodeOut:
    """The HTML snippet that loads the platform's chat widget for this agent."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    base = config.base_url.rstrip("/")
    script = f"{base}/widget.js"
    snippet = f'<script src="{html.escape(script)}" data-agent-id="{agent.id}" async></script>'
    return EmbedCodeOut(
        agent_id=agent.id,
        embed_code=snippet,
        script_url=script,
        base_url=base,
        widget_config=agent.widget_config,
    )
