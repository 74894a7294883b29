"""HTTP API of agents: CRUD, by-name, soft delete and restore, clone, embed code.

Members read their company's agents (API keys need `read`); admins change them (keys need
write, update or delete by method). Another company's agent answers 404. Writes answer
synchronously with the agent and its effective configuration (never API keys).
"""

from __future__ import annotations

import html
import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from knowrithm_agents import effective
from knowrithm_agents.agents import repository as repo
from knowrithm_agents.agents import service
from knowrithm_agents.agents.schemas import (
    AgentCreate,
    AgentListOut,
    AgentOut,
    AgentUpdate,
    CloneBody,
    DeletedAgentListOut,
    DeletedAgentOut,
    EmbedCodeOut,
    Status,
)
from knowrithm_agents.deps import Box, Config
from knowrithm_agents.providers.schemas import Deleted
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.tenancy import (
    CompanyAdminRead,
    CompanyDelete,
    CompanyRead,
    CompanyUpdate,
    CompanyWrite,
)

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]


CREATED: dict[str, Any] = {
    "status_code": 201, "response_model": AgentOut, "tags": TAGS, "responses": errors(404, 409)
}


@router.post("/api/v1/agent", **CREATED)
async def create_agent(body: AgentCreate, session: Session, subject: CompanyWrite, box: Box) -> AgentOut:
    """Create an agent; settings fields give it its own settings, else the company's apply (admin)."""
    agent, snap = await service.create_agent(
        session,
        box,
        company_id=subject.named(body.company_id),
        fields=body.agent_fields(),
        settings=body.settings_changes(),
        actor=subject.actor,
    )
    return AgentOut.of(agent, snap)


@router.get("/api/v1/agent", response_model=AgentListOut, tags=TAGS, responses=errors(404))
async def list_agents(
    session: Session,
    subject: CompanyRead,
    page: Page,
    status: Status | None = Query(None, description="Only agents with this status"),
    search: str | None = Query(None, max_length=200, description="Search in name and description"),
) -> AgentListOut:
    """The caller's company's live agents, newest first, with their effective configuration."""
    rows, pagination = await repo.search(session, subject.company_id, status=status, text=search, page=page)
    snaps = await effective.snapshots(session, rows)
    return AgentListOut(agents=[AgentOut.of(a, snaps[a.id]) for a in rows], pagination=pagination)


# Declared before /api/v1/agent/{agent_id} so that "deleted" is not read as an agent id.
@router.get("/api/v1/agent/deleted", response_model=DeletedAgentListOut, tags=TAGS)
async def deleted_agents(session: Session, subject: CompanyAdminRead, page: Page) -> DeletedAgentListOut:
    """The company's soft-deleted agents (restorable), the newest deletion first (admin)."""
    rows, pagination = await repo.deleted(session, subject.company_id, page)
    snaps = await effective.snapshots(session, rows)
    return DeletedAgentListOut(
        deleted_agents=[DeletedAgentOut.deleted(a, snaps[a.id]) for a in rows], pagination=pagination
    )


@router.get("/api/v1/agent/by-name/{name}", response_model=AgentOut, tags=TAGS, responses=errors(400))
async def agent_by_name(name: str, session: Session, subject: CompanyRead) -> AgentOut:
    """The company's live agent with exactly this name."""
    agent = await service.get_by_name(session, subject.company, name)
    return AgentOut.of(agent, await effective.snapshot(session, agent))


@router.get("/api/v1/agent/{agent_id}", response_model=AgentOut, tags=TAGS)
async def get_agent(agent_id: uuid.UUID, session: Session, subject: CompanyRead) -> AgentOut:
    """One live agent with its effective configuration."""
    agent = await service.get_agent(session, agent_id, subject.company_id)
    return AgentOut.of(agent, await effective.snapshot(session, agent))


@router.put("/api/v1/agent/{agent_id}", response_model=AgentOut, tags=TAGS, responses=errors(409))
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, session: Session, subject: CompanyUpdate, box: Box
) -> AgentOut:
    """Change the fields given; settings fields change the agent's own settings (admin)."""
    agent = await service.get_agent(session, agent_id, subject.company_id)
    snap = await service.update_agent(
        session,
        box,
        agent,
        changes=body.agent_changes(),
        settings=body.settings_changes(),
        adopt=body.llm_settings_id,
        actor=subject.actor,
    )
    return AgentOut.of(agent, snap)


@router.delete("/api/v1/agent/{agent_id}", response_model=Deleted, tags=TAGS)
async def delete_agent(agent_id: uuid.UUID, session: Session, subject: CompanyDelete) -> Deleted:
    """Soft-delete an agent; PATCH .../restore brings it back (admin)."""
    agent = await service.get_agent(session, agent_id, subject.company_id)
    await service.delete_agent(session, agent, actor=subject.actor)
    return Deleted(message="Agent deleted")


@router.patch(
    "/api/v1/agent/{agent_id}/restore", response_model=AgentOut, tags=TAGS, responses=errors(400, 409)
)
async def restore_agent(agent_id: uuid.UUID, session: Session, subject: CompanyUpdate) -> AgentOut:
    """Restore a soft-deleted agent; refused (409) while a live agent has its name (admin)."""
    agent, snap = await service.restore_agent(session, agent_id, subject.company_id, actor=subject.actor)
    return AgentOut.of(agent, snap)


@router.post(
    "/api/v1/agent/{agent_id}/clone",
    status_code=201,
    response_model=AgentOut,
    tags=TAGS,
    responses=errors(409),
)
async def clone_agent(
    agent_id: uuid.UUID,
    session: Session,
    subject: CompanyWrite,
    body: Annotated[CloneBody | None, Body()] = None,
) -> AgentOut:
    """Copy an agent's configuration and own settings (or `llm_settings_id`'s) under a new name (admin)."""
    source = await service.get_agent(session, agent_id, subject.company_id)
    clone, snap = await service.clone_agent(
        session,
        source,
        name=body.name if body else None,
        adopt=body.llm_settings_id if body else None,
        actor=subject.actor,
    )
    return AgentOut.of(clone, snap)


@router.get("/api/v1/agent/{agent_id}/embed-code", response_model=EmbedCodeOut, tags=TAGS)
async def embed_code(
    agent_id: uuid.UUID, session: Session, subject: CompanyRead, config: Config
) -> EmbedCodeOut:
    """The HTML snippet that loads the platform's chat widget for this agent."""
    agent = await service.get_agent(session, agent_id, subject.company_id)
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
