"""HTTP API of leads.

- `POST /api/v1/lead/register` is public (the chat widget's): consent to processing is
  assumed when not given, as the reference API's default says, and `false` is refused (422
  `consent_required`), the agent must exist and be active (404
  `agent_not_available`), and when the agent's widget config lists `allowed_origins` a
  browser's Origin must be one of them (403 `origin_not_allowed`). It always makes a new lead,
  starts its conversation (unless `start_conversation` is false) and answers 201 with a lead
  token for `Authorization: Bearer` on the operations a lead may call.
- The company's API: members read (`GET /lead/company`, `GET /lead/{id}`); admins create,
  change, delete, export and erase. Another company's lead answers 404, like a missing one.
  The SDK twins (`/sdk/lead…`) behave exactly as their `/lead…` counterparts.
- GDPR: `GET /lead/{id}/export` returns everything held about the lead; `DELETE
  /lead/{id}/data` erases it (conversations, messages and feedback hard-deleted, personal data
  blanked, token revoked). Both also work on a soft-deleted lead, which still holds its data.

Everything answers at once with the final resource (no background task): each is one quick
transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, authenticated, current_principal
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, page_params, paginate
from knowrithm_common.queries import Agents, AgentsOwner
from knowrithm_common.tenancy import actor_of, readers, writers
from knowrithm_conversations.conversations.schemas import ConversationOut
from knowrithm_conversations.leads import service
from knowrithm_conversations.leads.schemas import (
    LeadChanges,
    LeadDeleted,
    LeadEnvelope,
    LeadErased,
    LeadExport,
    LeadList,
    LeadPage,
    LeadRegistered,
    LeadRegistration,
    NewLead,
)
from knowrithm_conversations.leads.service import LeadTools, lead_out
from knowrithm_conversations.models import LeadStatus

router = APIRouter()
TAGS: list[str | Enum] = ["Leads"]
Caller = Annotated[Principal, Depends(authenticated)]
Page = Annotated[PageParams, Depends(page_params)]


def get_tools(request: Request) -> LeadTools:
    """The lead tools of this process, built on first use from the settings' keys."""
    state = request.app.state
    tools: LeadTools | None = getattr(state, "lead_tools", None)
    if tools is None:
        chat = getattr(state, "chat", None)
        tools = service.build_tools(state.settings, state.redis, chat.history if chat else None)
        state.lead_tools = tools
    return tools


Tools = Annotated[LeadTools, Depends(get_tools)]


@router.post("/api/v1/lead/register", status_code=201, response_model=LeadRegistered, tags=TAGS,
             responses=errors(403, 404))
async def register_lead(
    body: LeadRegistration, request: Request, session: Session, tools: Tools, agents: Agents,
    principal: Annotated[Principal, Depends(current_principal)],
) -> LeadRegistered:
    """Register a chat widget visitor: a new lead, its conversation and its lead token (public)."""
    done = await service.register(session, body, origin=request.headers.get("origin"), tools=tools,
                                  agents=agents, actor=actor_of(request, principal))
    conversation = ConversationOut.of(done.conversation, done.agent) if done.conversation else None
    return LeadRegistered(lead=lead_out(done.lead, tools), conversation=conversation, lead_token=done.token,
                          expires_at=dt.datetime.fromtimestamp(done.claims.exp, dt.UTC))


async def _create(body: NewLead, request: Request, session: Session, caller: Principal,
                  tools: LeadTools, agents: AgentsOwner) -> LeadEnvelope:
    lead = await service.create_lead(session, caller, body, tools=tools, agents=agents,
                                     actor=actor_of(request, caller))
    return LeadEnvelope(message="Lead created", lead=lead_out(lead, tools))


@router.post("/api/v1/lead", status_code=201, response_model=LeadEnvelope, tags=TAGS,
             dependencies=writers("write"), responses=errors(404))
async def create_lead(
    body: NewLead, request: Request, session: Session, caller: Caller, tools: Tools, agents: Agents
) -> LeadEnvelope:
    """Record a lead for your company (super admins name the company)."""
    return await _create(body, request, session, caller, tools, agents)


@router.post("/api/v1/sdk/lead", status_code=201, response_model=LeadEnvelope, tags=TAGS,
             dependencies=writers("write"), responses=errors(404))
async def sdk_create_lead(
    body: NewLead, request: Request, session: Session, caller: Caller, tools: Tools, agents: Agents
) -> LeadEnvelope:
    """Record a lead and return it (SDK twin of `POST /lead`)."""
    return await _create(body, request, session, caller, tools, agents)


@router.get("/api/v1/lead/company", response_model=LeadList, tags=TAGS, dependencies=readers)
async def list_leads(
    session: Session, caller: Caller, tools: Tools, page: Page,
    status: LeadStatus | None = Query(None, description="new | contacted | qualified | converted | lost"),
    agent_id: uuid.UUID | None = Query(None, description="Only leads that came through this agent"),
    search: str | None = Query(None, max_length=255, description="Part of a name, or an exact email"),
) -> LeadList:
    """Your company's leads, newest first, filtered by status, agent, name or exact email."""
    stmt = service.list_query(caller, tools=tools, status=status, agent_id=agent_id, search=search)
    rows, pagination = await paginate(session, stmt, page)
    return LeadList(data=LeadPage(leads=[lead_out(lead, tools) for lead in rows], pagination=pagination))


@router.get("/api/v1/lead/{lead_id}", response_model=LeadEnvelope, tags=TAGS, dependencies=readers)
async def get_lead(lead_id: uuid.UUID, session: Session, caller: Caller, tools: Tools) -> LeadEnvelope:
    """One lead of your company."""
    return LeadEnvelope(lead=lead_out(await service.find_lead(session, caller, lead_id), tools))


async def _update(lead_id: uuid.UUID, body: LeadChanges, request: Request, session: Session,
                  caller: Principal, tools: LeadTools) -> LeadEnvelope:
    lead = await service.find_lead(session, caller, lead_id, lock=True)
    lead = await service.update_lead(session, lead, body, tools=tools, actor=actor_of(request, caller))
    return LeadEnvelope(message="Lead updated", lead=lead_out(lead, tools))


@router.put("/api/v1/lead/{lead_id}", response_model=LeadEnvelope, tags=TAGS, dependencies=writers("update"))
async def update_lead(
    lead_id: uuid.UUID, body: LeadChanges, request: Request, session: Session, caller: Caller, tools: Tools
) -> LeadEnvelope:
    """Change a lead's details or status (`converted` records when)."""
    return await _update(lead_id, body, request, session, caller, tools)


@router.put("/api/v1/sdk/lead/{lead_id}", response_model=LeadEnvelope, tags=TAGS,
            dependencies=writers("update"))
async def sdk_update_lead(
    lead_id: uuid.UUID, body: LeadChanges, request: Request, session: Session, caller: Caller, tools: Tools
) -> LeadEnvelope:
    """Change a lead and return it (SDK twin of `PUT /lead/{id}`)."""
    return await _update(lead_id, body, request, session, caller, tools)


async def _delete(lead_id: uuid.UUID, request: Request, session: Session, caller: Principal,
                  tools: LeadTools) -> LeadDeleted:
    lead = await service.find_lead(session, caller, lead_id, lock=True)
    await service.delete_lead(session, lead, tools=tools, actor=actor_of(request, caller))
    return LeadDeleted(message="Lead deleted", lead_id=lead.id)


@router.delete("/api/v1/lead/{lead_id}", response_model=LeadDeleted, tags=TAGS,
               dependencies=writers("delete"))
async def delete_lead(
    lead_id: uuid.UUID, request: Request, session: Session, caller: Caller, tools: Tools
) -> LeadDeleted:
    """Delete a lead (soft) and end its chat session; its conversations stay until erased."""
    return await _delete(lead_id, request, session, caller, tools)


@router.delete("/api/v1/sdk/lead/{lead_id}", response_model=LeadDeleted, tags=TAGS,
               dependencies=writers("delete"))
async def sdk_delete_lead(
    lead_id: uuid.UUID, request: Request, session: Session, caller: Caller, tools: Tools
) -> LeadDeleted:
    """Delete a lead (SDK twin of `DELETE /lead/{id}`)."""
    return await _delete(lead_id, request, session, caller, tools)


@router.get("/api/v1/lead/{lead_id}/export", response_model=LeadExport, tags=TAGS,
            dependencies=writers("read"))
async def export_lead(lead_id: uuid.UUID, session: Session, caller: Caller, tools: Tools) -> LeadExport:
    """Everything held about a lead: its details, conversations, messages and feedback (GDPR)."""
    lead = await service.find_lead(session, caller, lead_id, include_deleted=True)
    return await service.export_lead(session, lead, tools)


@router.delete("/api/v1/lead/{lead_id}/data", response_model=LeadErased, tags=TAGS,
               dependencies=writers("delete"))
async def erase_lead(
    lead_id: uuid.UUID, request: Request, session: Session, caller: Caller, tools: Tools
) -> LeadErased:
    """Erase a lead (GDPR): its conversations, messages and feedback go for good; so does its data."""
    lead = await service.find_lead(session, caller, lead_id, include_deleted=True, lock=True)
    erased = await service.erase_lead(session, lead, tools=tools, actor=actor_of(request, caller))
    return LeadErased(message="Lead data erased", lead_id=lead.id, deleted_conversations=erased.conversations,
                      deleted_messages=erased.messages, deleted_feedback=erased.feedback)
