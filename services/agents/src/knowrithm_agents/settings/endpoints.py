"""HTTP API of LLM and embedding settings (company-level and agent-level).

Members read their company's settings (API keys need `read`); admins change them. Keys are
written, never read back: responses carry masked hints. Writes answer synchronously.
"""

from __future__ import annotations

import asyncio
import uuid
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from knowrithm_agents import effective
from knowrithm_agents.agents.service import get_agent
from knowrithm_agents.deps import Box, Config
from knowrithm_agents.models import LlmSettings
from knowrithm_agents.providers.schemas import Deleted
from knowrithm_agents.settings import service
from knowrithm_agents.settings.probe import probe
from knowrithm_agents.settings.schemas import (
    ByName,
    SdkSettingsCreate,
    SettingsCreate,
    SettingsListOut,
    SettingsOut,
    SettingsTestOut,
    SettingsUpdate,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import (
    MEMBERS,
    CompanyDelete,
    CompanyRead,
    CompanyUpdate,
    CompanyWrite,
    Subject,
    subject_dependency,
)

router = APIRouter()
TAGS: list[str | Enum] = ["LLM Settings"]
# The route's path names the company: no `?company_id=` beside it.
CompanyInPathRead = Annotated[Subject, Depends(subject_dependency(MEMBERS, "read", company_query=False))]
CREATED: dict[str, Any] = {"status_code": 201, "response_model": SettingsOut, "tags": TAGS,
                           "responses": errors(404, 409)}


async def _out(session: Session, row: LlmSettings) -> SettingsOut:
    return SettingsOut.of(row, (await effective.configurations(session, [row]))[row.id])


async def _created(
    session: Session, box: Box, subject: Subject, *, company_id: uuid.UUID, fields: dict[str, Any]
) -> SettingsOut:
    row = await service.create_settings(
        session, box, company_id=company_id, fields=fields, actor=subject.actor
    )
    return await _out(session, row)


@router.post("/api/v1/settings", **CREATED)
async def create_settings(
    body: SettingsCreate, session: Session, subject: CompanyWrite, box: Box
) -> SettingsOut:
    """Create company-level settings, or agent-level ones when agent_id is given (admin)."""
    company_id = subject.named(body.company_id)
    return await _created(session, box, subject, company_id=company_id, fields=body.model_dump())


@router.post("/api/v1/sdk/settings", **CREATED)
async def create_settings_by_name(
    body: SdkSettingsCreate, session: Session, subject: CompanyWrite, box: Box
) -> SettingsOut:
    """Create settings naming providers and models (provider value, model name) instead of ids (admin)."""
    company_id = subject.named(body.company_id)
    fields = body.model_dump(exclude=set(ByName.model_fields))
    fields.update(await service.ids_by_name(session, body))
    return await _created(session, box, subject, company_id=company_id, fields=fields)


@router.get("/api/v1/settings/company/{company_id}", response_model=SettingsListOut, tags=TAGS)
async def company_settings(
    company_id: uuid.UUID, session: Session, subject: CompanyInPathRead
) -> SettingsListOut:
    """A company's live settings, company-level and agent-level, default first."""
    rows = await service.list_settings(session, subject.named(company_id))
    configs = await effective.configurations(session, rows)
    return SettingsListOut(settings=[SettingsOut.of(r, configs[r.id]) for r in rows], total=len(rows))


@router.get("/api/v1/settings/agent/{agent_id}", response_model=SettingsOut, tags=TAGS)
async def agent_settings(agent_id: uuid.UUID, session: Session, subject: CompanyRead) -> SettingsOut:
    """The settings an agent runs with: its own, else its company's default."""
    agent = await get_agent(session, agent_id, subject.company_id)
    row = await effective.effective_settings(session, agent)
    if row is None:
        raise service.SettingsNotFound("Neither the agent nor its company has settings")
    return await _out(session, row)


@router.get("/api/v1/settings/{settings_id}", response_model=SettingsOut, tags=TAGS)
async def get_settings(settings_id: uuid.UUID, session: Session, subject: CompanyRead) -> SettingsOut:
    """One settings row."""
    return await _out(session, await service.get_settings(session, settings_id, subject.company_id))


@router.put("/api/v1/settings/{settings_id}", response_model=SettingsOut, tags=TAGS)
async def update_settings(
    settings_id: uuid.UUID, body: SettingsUpdate, session: Session, subject: CompanyUpdate, box: Box
) -> SettingsOut:
    """Change the fields given; a key given as null is removed (admin)."""
    row = await service.get_settings(session, settings_id, subject.company_id)
    row = await service.update_settings(session, box, row, body, actor=subject.actor)
    return await _out(session, row)


@router.delete("/api/v1/settings/{settings_id}", response_model=Deleted, tags=TAGS, responses=errors(409))
async def delete_settings(settings_id: uuid.UUID, session: Session, subject: CompanyDelete) -> Deleted:
    """Soft-delete settings; refused (409) while agents would be left without any (admin)."""
    row = await service.get_settings(session, settings_id, subject.company_id)
    await service.delete_settings(session, row, actor=subject.actor)
    return Deleted(message="Settings deleted")


@router.post("/api/v1/settings/test/{settings_id}", response_model=SettingsTestOut, tags=TAGS)
async def test_settings(
    settings_id: uuid.UUID, session: Session, subject: CompanyWrite, box: Box, config: Config
) -> SettingsTestOut:
    """Call the LLM and the embedding provider once each; report latency or the error (admin)."""
    row = await service.get_settings(session, settings_id, subject.company_id)
    resolved = (await effective.configurations(session, [row]))[row.id]
    keys = service.plain_keys(box, row)
    llm, embedding = await asyncio.gather(
        *(
            probe(
                kind=kind,
                provider=getattr(resolved, f"{kind}_provider"),
                model=getattr(resolved, f"{kind}_model"),
                base_url=getattr(resolved, f"{kind}_api_base_url"),
                api_key=keys[kind],
                timeout=config.provider_timeout_seconds,
            )
            for kind in service.KINDS
        )
    )
    return SettingsTestOut(success=llm.ok and embedding.ok, llm=llm, embedding=embedding)
