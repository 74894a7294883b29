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
  The SDK twins (`/sdk/lead…`) are the very same operations as their `/lead…` counterparts.
- GDPR: `GET /lead/{id}/export` returns everything held about the lead; `DELETE
  /lead/{id}/data` erases it (conversations, messages and feedback hard-deleted, personal data
  blanked, token revoked). Both also work on a soft-deleted lead, which still holds its data.

Everything answers at once with the final resource (no background task): each is one quick
transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, current_principal
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.queries import Agents
from knowrithm_common.tenancy import (
    CompanyAdminRead,
    CompanyDelete,
    CompanyRead,
    CompanyUpdate,
    CompanyWrite,
    actor_of,
)
from knowrithm_conversations.conversations.filters import Period, period_query
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

router = APIRouter(tags=["Leads"])


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


@router.post("/api/v1/lead/register", status_code=201, response_model=LeadRegistered,
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


# Each SDK twin is the same operation at its own path, with its own name (operation id) and text.
@router.post("/api/v1/sdk/lead", status_code=201, response_model=LeadEnvelope,
             responses=errors(404),
             name="sdk_create_lead", description="Record a lead and return it (SDK twin of `POST /lead`).")
@router.post("/api/v1/lead", status_code=201, response_model=LeadEnvelope, responses=errors(404))
async def create_lead(subject: CompanyWrite, body: NewLead, session: Session, tools: Tools,
                      agents: Agents) -> LeadEnvelope:
    """Record a lead for your company (super admins name the company)."""
    lead = await service.create_lead(session, subject, body, tools=tools, agents=agents)
    return LeadEnvelope(message="Lead created", lead=lead_out(lead, tools))


@router.get("/api/v1/lead/company", response_model=LeadList)
async def list_leads(
    subject: CompanyRead, session: Session, tools: Tools, page: Page,
    status: LeadStatus | None = Query(None, description="new | contacted | qualified | converted | lost"),
    agent_id: uuid.UUID | None = Query(None, description="Only leads that came through this agent"),
    search: str | None = Query(None, max_length=255, description="Part of a name, or an exact email"),
    created: Period = Depends(period_query),
) -> LeadList:
    """Your company's leads, newest first, filtered by status, agent, name or exact email, creation date."""
    rows, pagination = await service.leads_page(session, subject, page, tools=tools, status=status,
                                                agent_id=agent_id, search=search, created=created)
    return LeadList(data=LeadPage(leads=[lead_out(lead, tools) for lead in rows], pagination=pagination))


@router.get("/api/v1/lead/{lead_id}", response_model=LeadEnvelope)
async def get_lead(subject: CompanyRead, lead_id: uuid.UUID, session: Session, tools: Tools) -> LeadEnvelope:
    """One lead of your company."""
    return LeadEnvelope(lead=lead_out(await service.find_lead(session, subject, lead_id), tools))


@router.put("/api/v1/sdk/lead/{lead_id}", response_model=LeadEnvelope, name="sdk_update_lead",
            description="Change a lead and return it (SDK twin of `PUT /lead/{id}`).")
@router.put("/api/v1/lead/{lead_id}", response_model=LeadEnvelope)
async def update_lead(
    subject: CompanyUpdate, lead_id: uuid.UUID, body: LeadChanges, session: Session, tools: Tools
) -> LeadEnvelope:
    """Change a lead's details or status (`converted` records when)."""
    lead = await service.update_lead(session, subject, lead_id, body, tools=tools)
    return LeadEnvelope(message="Lead updated", lead=lead_out(lead, tools))


@router.delete("/api/v1/sdk/lead/{lead_id}", response_model=LeadDeleted, name="sdk_delete_lead",
               description="Delete a lead (SDK twin of `DELETE /lead/{id}`).")
@router.delete("/api/v1/lead/{lead_id}", response_model=LeadDeleted)
async def delete_lead(
    subject: CompanyDelete, lead_id: uuid.UUID, session: Session, tools: Tools
) -> LeadDeleted:
    """Delete a lead (soft) and end its chat session; its conversations stay until erased."""
    await service.delete_lead(session, subject, lead_id, tools=tools)
    return LeadDeleted(message="Lead deleted", lead_id=lead_id)


@router.get("/api/v1/lead/{lead_id}/export", response_model=LeadExport)
async def export_lead(
    subject: CompanyAdminRead, lead_id: uuid.UUID, session: Session, tools: Tools
) -> LeadExport:
    """Everything held about a lead: its details, conversations, messages and feedback (GDPR)."""
    return await service.export_lead(session, subject, lead_id, tools)


@router.delete("/api/v1/lead/{lead_id}/data", response_model=LeadErased)
async def erase_lead(
    subject: CompanyDelete, lead_id: uuid.UUID, session: Session, tools: Tools
) -> LeadErased:
    """Erase a lead (GDPR): its conversations, messages and feedback go for good; so does its data."""
    erased = await service.erase_lead(session, subject, lead_id, tools=tools)
    return LeadErased(message="Lead data erased", lead_id=lead_id, deleted_conversations=erased.conversations,
                      deleted_messages=erased.messages, deleted_feedback=erased.feedback)
