"""HTTP API of LLM and embedding settings (company-level and agent-level).

Members read their company's settings (API keys need `read`); admins change them. Keys are
written, never read back: responses carry masked hints. Writes answer synchronously.
"""

from __future__ import annotations

import asyncio
import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from knowrithm_agents import configuration as conf
from knowrithm_agents.config import AgentsSettings
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
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.openapi import errors

router = APIRouter()
TAGS: list[str | Enum] = ["LLM Settings"]
Caller = Annotated[Principal, Depends(authenticated)]
Box = Annotated[SecretBox, Depends(secret_box)]


async def _out(session: Session, row: LlmSettings) -> SettingsOut:
    return SettingsOut.of(row, (await conf.configurations(session, [row]))[row.id])


@router.post(
    "/api/v1/settings", status_code=201, response_model=SettingsOut, tags=TAGS, dependencies=writers(),
    responses=errors(404, 409)
)
async def create_settings(
    body: SettingsCreate, request: Request, session: Session, caller: Caller, box: Box
) -> SettingsOut:
    """Create company-level settings, or agent-level ones when agent_id is given (admin)."""
    company_id = target_company(caller, body.company_id)
    row = await service.create_settings(
        session, box, company_id=company_id, fields=body.model_dump(), actor=actor_of(request, caller)
    )
    return await _out(session, row)


@router.post(
    "/api/v1/sdk/settings", status_code=201, response_model=SettingsOut, tags=TAGS, dependencies=writers(),
    responses=errors(404, 409)
)
async def create_settings_by_name(
    body: SdkSettingsCreate, request: Request, session: Session, caller: Caller, box: Box
) -> SettingsOut:
    """Create settings naming providers and models (provider value, model name) instead of ids (admin)."""
    company_id = target_company(caller, body.company_id)
    fields = body.model_dump(exclude=set(ByName.model_fields))
    fields.update(await service.ids_by_name(session, body))
    row = await service.create_settings(
        session, box, company_id=company_id, fields=fields, actor=actor_of(request, caller)
    )
    return await _out(session, row)


@router.get(
    "/api/v1/settings/company/{company_id}", response_model=SettingsListOut, tags=TAGS, dependencies=readers
)
async def company_settings(company_id: uuid.UUID, session: Session, caller: Caller) -> SettingsListOut:
    """A company's live settings, company-level and agent-level, default first."""
    scope_of(caller, company_id)
    rows = await service.list_settings(session, company_id)
    configs = await conf.configurations(session, rows)
    return SettingsListOut(settings=[SettingsOut.of(r, configs[r.id]) for r in rows], total=len(rows))


@router.get("/api/v1/settings/agent/{agent_id}", response_model=SettingsOut, tags=TAGS, dependencies=readers)
async def agent_settings(agent_id: uuid.UUID, session: Session, caller: Caller) -> SettingsOut:
    """The settings an agent runs with: its own, else its company's default."""
    agent = await service.get_agent(session, agent_id, scope_of(caller))
    row = await conf.effective_settings(session, agent)
    if row is None:
        raise service.SettingsNotFound("Neither the agent nor its company has settings")
    return await _out(session, row)


@router.get("/api/v1/settings/{settings_id}", response_model=SettingsOut, tags=TAGS, dependencies=readers)
async def get_settings(settings_id: uuid.UUID, session: Session, caller: Caller) -> SettingsOut:
    """One settings row."""
    return await _out(session, await service.get_settings(session, settings_id, scope_of(caller)))


@router.put(
    "/api/v1/settings/{settings_id}", response_model=SettingsOut, tags=TAGS, dependencies=writers("update")
)
async def update_settings(
    settings_id: uuid.UUID, body: SettingsUpdate, request: Request, session: Session, caller: Caller, box: Box
) -> SettingsOut:
    """Change the fields given; a key given as null is removed (admin)."""
    row = await service.get_settings(session, settings_id, scope_of(caller))
    row = await service.update_settings(session, box, row, body, actor=actor_of(request, caller))
    return await _out(session, row)


@router.delete(
    "/api/v1/settings/{settings_id}", response_model=Deleted, tags=TAGS, dependencies=writers("delete"),
    responses=errors(409)
)
async def delete_settings(
    settings_id: uuid.UUID, request: Request, session: Session, caller: Caller
) -> Deleted:
    """Soft-delete settings; refused (409) while agents would be left without any (admin)."""
    row = await service.get_settings(session, settings_id, scope_of(caller))
    await service.delete_settings(session, row, actor=actor_of(request, caller))
    return Deleted(message="Settings deleted")


@router.post(
    "/api/v1/settings/test/{settings_id}", response_model=SettingsTestOut, tags=TAGS, dependencies=writers()
)
async def test_settings(
    settings_id: uuid.UUID,
    session: Session,
    caller: Caller,
    box: Box,
    config: Annotated[AgentsSettings, Depends(app_settings)],
) -> SettingsTestOut:
    """Call the LLM and the embedding provider once each; report latency or the error (admin)."""
    row = await service.get_settings(session, settings_id, scope_of(caller))
    resolved = (await conf.configurations(session, [row]))[row.id]
    keys = {
        k: box.decrypt(v) if (v := getattr(row, f"{k}_api_key_encrypted")) else None
        for k in ("llm", "embedding")
    }
    llm, embedding = await asyncio.gather(
        probe(
            kind="llm",
            provider=resolved.llm_provider,
            model=resolved.llm_model,
            base_url=resolved.llm_api_base_url,
            api_key=keys["llm"],
            timeout=config.provider_timeout_seconds,
        ),
        probe(
            kind="embedding",
            provider=resolved.embedding_provider,
            model=resolved.embedding_model,
            base_url=resolved.embedding_api_base_url,
            api_key=keys["embedding"],
            timeout=config.provider_timeout_seconds,
        ),
    )
    return SettingsTestOut(success=llm.ok and embedding.ok, llm=llm, embedding=embedding)
