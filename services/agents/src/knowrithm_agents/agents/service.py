"""Use cases of agents: create (with or without own settings), update, delete, restore, clone.

Every write flushes only and records the matching agent event, carrying the resolved
configuration (never keys), in the request's transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents import effective
from knowrithm_agents.agents import repository as repo
from knowrithm_agents.agents.schemas import IDS, SdkSettingsUpdate
from knowrithm_agents.models import Agent, LlmSettings
from knowrithm_agents.providers import repository as catalogue
from knowrithm_agents.providers.service import ModelNotFound, ProviderNotFound
from knowrithm_agents.settings import service as settings_service
from knowrithm_agents.settings.schemas import SettingsFields, SettingsUpdate
from knowrithm_common.crypto import SecretBox
from knowrithm_common.errors import AgentNotFound, BadRequest, Conflict
from knowrithm_common.events import Actor
from knowrithm_common.events.agents import (
    AgentCreatedV1,
    AgentDeletedV1,
    AgentRestoredV1,
    AgentSnapshot,
)


class AgentNameTaken(Conflict):
    code, message = "agent_name_taken", "The company already has an agent with this name"


class SettingsRequired(BadRequest):
    code = "settings_required"


def _require_ids(settings: dict[str, Any], explanation: str) -> None:
    """Own settings need the four catalogue ids; `explanation` says so with `{}` for the missing ones."""
    missing = [f for f in IDS if settings.get(f) is None]
    if missing:
        raise SettingsRequired(
            explanation.format(", ".join(missing)),
            detail=[{"loc": ["body", f], "msg": "required", "type": "missing"} for f in missing],
        )


async def _flush_unique(session: AsyncSession) -> None:
    """Flush; a duplicate live name that raced past the check becomes the 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise AgentNameTaken() from exc


async def _check_name_free(
    session: AsyncSession, company_id: uuid.UUID, name: str, *, but: uuid.UUID | None = None
) -> None:
    other = await repo.by_name(session, company_id, name)
    if other is not None and other.id != but:
        raise AgentNameTaken(f"The company already has an agent named '{name}'")


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, company_id: uuid.UUID | None) -> Agent:
    agent = await repo.get(session, agent_id, company_id)
    if agent is None:
        raise AgentNotFound()
    return agent


class AgentNameAmbiguous(Conflict):
    code = "agent_name_ambiguous"


async def get_by_name(session: AsyncSession, company_id: uuid.UUID, name: str) -> Agent:
    """The live agent with this name: the exact spelling first, else the only case-insensitive match."""
    agent = await repo.by_name(session, company_id, name)
    if agent is not None:
        return agent
    matches = await repo.by_name_ignoring_case(session, company_id, name)
    if not matches:
        raise AgentNotFound(f"No agent named '{name}'")
    if len(matches) > 1:
        raise AgentNameAmbiguous(
            f"Several agents are named '{name}' but for upper and lower case: "
            f"{', '.join(sorted(a.name for a in matches))}; give the exact name"
        )
    return matches[0]


async def create_agent(
    session: AsyncSession,
    box: SecretBox,
    *,
    company_id: uuid.UUID,
    fields: dict[str, Any],
    settings: dict[str, Any],
    actor: Actor,
) -> tuple[Agent, AgentSnapshot]:
    """Add an agent; given settings fields become its own settings row, else the company default applies."""
    if settings:
        _require_ids(
            settings,
            "Agent settings need {} (or leave out every settings field to use the company's settings)",
        )
    elif await effective.company_default(session, company_id) is None:
        raise SettingsRequired(
            "The company has no LLM settings: create company settings first (POST /api/v1/settings) "
            "or pass llm_provider_id, llm_model_id, embedding_provider_id and embedding_model_id"
        )
    await _check_name_free(session, company_id, fields["name"])
    agent = Agent(company_id=company_id, **fields)
    session.add(agent)
    await _flush_unique(session)
    if settings:
        await _create_own_settings(session, box, agent, settings, actor=actor)
    snap = await effective.snapshot(session, agent)
    await effective.record_agent_event(session, agent, AgentCreatedV1(**snap.model_dump()), actor=actor)
    return agent, snap


async def update_agent(
    session: AsyncSession,
    box: SecretBox,
    agent: Agent,
    *,
    changes: dict[str, Any],
    settings: dict[str, Any],
    adopt: uuid.UUID | None = None,
    actor: Actor,
) -> AgentSnapshot:
    """Change the agent fields given and its own settings (first a copy of `adopt`'s, when given);
    one AgentUpdatedV1 when anything changed."""
    null = [
        f
        for f, v in changes.items()
        if v is None and f not in ("description", "avatar_url", "widget_script_url")
    ]
    if null:
        raise BadRequest(f"{', '.join(null)} cannot be null")
    before = await effective.snapshot(session, agent)
    if "name" in changes and changes["name"] != agent.name:
        await _check_name_free(session, agent.company_id, changes["name"], but=agent.id)
    for field, value in changes.items():
        setattr(agent, field, value)
    await _flush_unique(session)
    if adopt is not None:
        await adopt_settings(session, agent, adopt, actor=actor)
    if settings:
        own = await repo.own_settings(session, agent.id)
        if own is not None:
            await settings_service.update_settings(
                session, box, own, SettingsUpdate(**settings), actor=actor, record_agent_events=False
            )
        else:
            _require_ids(settings, "This agent uses its company's settings; to give it its own, pass {} too")
            await _create_own_settings(session, box, agent, settings, actor=actor)
    return (await effective.publish_changes(session, {agent.id: before}, [agent], actor=actor))[agent.id]


async def _create_own_settings(
    session: AsyncSession, box: SecretBox, agent: Agent, settings: dict[str, Any], *, actor: Actor
) -> None:
    """Give the agent its own settings row from the fields given (its event is the caller's)."""
    given = {k: v for k, v in settings.items() if v is not None or k.endswith("_api_key")}
    await settings_service.create_settings(
        session,
        box,
        company_id=agent.company_id,
        fields={**SettingsFields.model_validate(given).model_dump(), "agent_id": agent.id},
        actor=actor,
        record_agent_events=False,
    )


async def delete_agent(session: AsyncSession, agent: Agent, *, actor: Actor) -> None:
    """Soft-delete an agent (its own settings stay, for a restore)."""
    snap = await effective.snapshot(session, agent)
    agent.soft_delete()
    await session.flush()
    await effective.record_agent_event(session, agent, AgentDeletedV1(**snap.model_dump()), actor=actor)


async def restore_agent(
    session: AsyncSession, agent_id: uuid.UUID, company_id: uuid.UUID | None, *, actor: Actor
) -> tuple[Agent, AgentSnapshot]:
    """Bring back a soft-deleted agent; refused while a live agent holds its name."""
    agent = await repo.get(session, agent_id, company_id, deleted=True)
    if agent is None:
        raise AgentNotFound("No deleted agent with this id")
    await _check_name_free(session, agent.company_id, agent.name)
    if (await effective.effective_settings(session, agent)) is None:
        raise SettingsRequired("The company has no LLM settings any more: create company settings first")
    agent.restore()
    await _flush_unique(session)
    snap = await effective.snapshot(session, agent)
    await effective.record_agent_event(session, agent, AgentRestoredV1(**snap.model_dump()), actor=actor)
    return agent, snap


async def _clone_name(session: AsyncSession, source: Agent) -> str:
    base = f"{source.name[:190]} (copy"
    taken = await repo.names_like(session, source.company_id, base)
    n = 1
    while (name := f"{base})" if n == 1 else f"{base} {n})") in taken:
        n += 1
    return name


async def clone_agent(
    session: AsyncSession, source: Agent, *, name: str | None, adopt: uuid.UUID | None = None, actor: Actor
) -> tuple[Agent, AgentSnapshot]:
    """Copy an agent's configuration and its own settings (or a copy of `adopt`'s), keys as ciphertext;
    not its conversations."""
    if name is None:
        name = await _clone_name(session, source)
    await _check_name_free(session, source.company_id, name)
    fields = {
        f: getattr(source, f)
        for f in (
            "description",
            "avatar_url",
            "status",
            "personality_traits",
            "capabilities",
            "languages",
            "operating_hours",
            "widget_config",
            "widget_script_url",
        )
    }
    clone = Agent(company_id=source.company_id, name=name, **fields)
    session.add(clone)
    await _flush_unique(session)
    if adopt is not None:
        await adopt_settings(session, clone, adopt, actor=actor)
    else:
        own = await repo.own_settings(session, source.id)
        if own is not None:
            session.add(LlmSettings(**_copied_settings(own), agent_id=clone.id))
            await session.flush()
    snap = await effective.snapshot(session, clone)
    await effective.record_agent_event(
        session, clone, AgentCreatedV1(**snap.model_dump(), cloned_from=source.id), actor=actor
    )
    return clone, snap


def _copied_settings(row: LlmSettings) -> dict[str, Any]:
    skip = {"id", "agent_id", "created_at", "updated_at", "deleted_at"}
    return {c.key: getattr(row, c.key) for c in LlmSettings.__table__.columns if c.key not in skip}


# What an agent takes over from settings it adopts: the choice of models, their tuning and keys
# (as ciphertext), not the row's own role (company default, active flag, widget fields).
ADOPTED = tuple(
    f"{kind}_{field}"
    for kind, fields in (
        ("llm", ("provider_id", "model_id", "api_key_encrypted", "api_key_hint", "api_base_url",
                 "temperature", "max_tokens", "additional_params")),
        ("embedding", ("provider_id", "model_id", "api_key_encrypted", "api_key_hint", "api_base_url",
                       "dimension", "additional_params")),
    )
    for field in fields
)


async def adopt_settings(
    session: AsyncSession, agent: Agent, settings_id: uuid.UUID, *, actor: Actor
) -> None:
    """Make the agent's own settings a copy of the company's settings `settings_id` (the reference
    API's `llm_settings_id`); later changes to that row do not follow. 404 for unknown settings."""
    source = await settings_service.get_settings(session, settings_id, agent.company_id)
    await settings_service.validate_row(session, source, dimension_given=True)
    own = await repo.own_settings(session, agent.id)
    if own is not None and own.id == source.id:
        return
    values = {f: getattr(source, f) for f in ADOPTED}
    if own is None:
        own = LlmSettings(company_id=agent.company_id, agent_id=agent.id, is_active=True, **values)
        session.add(own)
        change = "created"
    else:
        for field, value in values.items():
            setattr(own, field, value)
        own.is_active, change = True, "updated"
    await session.flush()
    await settings_service.record_change(session, own, change, actor)


async def settings_by_name(
    session: AsyncSession, agent: Agent | None, names: SdkSettingsUpdate
) -> dict[str, Any]:
    """Settings fields (ids) from a by-name change; a model named alone keeps the agent's own provider."""
    given = names.model_dump(include=names.model_fields_set)
    out = {
        k: v
        for k, v in given.items()
        if k not in ("llm_provider", "llm_model", "embedding_provider", "embedding_model")
    }
    current = await repo.own_settings(session, agent.id) if agent is not None else None
    for kind in ("llm", "embedding"):
        value, model_name = given.get(f"{kind}_provider"), given.get(f"{kind}_model")
        if value is None and model_name is None:
            continue
        if value is not None:
            provider = await catalogue.provider_by_value(session, value.lower())
            if provider is None:
                raise ProviderNotFound(f"settings.{kind}_provider: no provider named '{value}'")
            provider_id = provider.id
        elif current is not None:
            provider_id = getattr(current, f"{kind}_provider_id")
        else:
            raise SettingsRequired(f"settings.{kind}_provider is required with settings.{kind}_model")
        if model_name is None:
            raise SettingsRequired(f"settings.{kind}_model is required with settings.{kind}_provider")
        model = await catalogue.model_by_name(session, provider_id, model_name)
        if model is None:
            raise ModelNotFound(f"settings.{kind}_model: the provider has no model named '{model_name}'")
        out[f"{kind}_provider_id"], out[f"{kind}_model_id"] = provider_id, model.id
    return out
