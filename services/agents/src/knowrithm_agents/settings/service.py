"""Use cases of LLM and embedding settings: checked against the catalogue, keys encrypted, events.

Every change records SettingsChangedV1 and, for each agent whose effective configuration
changed with it, an AgentUpdatedV1, in the request's transaction (flush only).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents import effective
from knowrithm_agents.agents import repository as agents
from knowrithm_agents.models import Agent, LlmSettings, Provider, ProviderModel, outbox
from knowrithm_agents.providers import repository as catalogue
from knowrithm_agents.providers.service import ModelNotFound, ProviderNotFound
from knowrithm_agents.settings.schemas import SECRET_FIELDS, ByName, SettingsUpdate
from knowrithm_common.crypto import SecretBox, hint
from knowrithm_common.errors import AgentNotFound, BadRequest, Conflict, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.agents import SettingsChangedV1

KINDS = ("llm", "embedding")


class SettingsNotFound(NotFound):
    code, message = "settings_not_found", "Settings not found"


class InvalidModelChoice(BadRequest):
    code = "invalid_model_choice"


class AgentHasSettings(Conflict):
    code, message = "agent_settings_exist", "This agent already has settings; update them instead"


class SettingsInUse(Conflict):
    code = "settings_in_use"


def _field_error(cls: type[BadRequest | NotFound], field: str, message: str) -> Exception:
    return cls(f"{field}: {message}", detail=[{"loc": ["body", field], "msg": message}])


async def check_choice(
    session: AsyncSession, *, kind: str, provider_id: uuid.UUID, model_id: uuid.UUID
) -> tuple[Provider, ProviderModel]:
    """The provider and model exist and are live, the model is the provider's and of this kind."""
    provider = await catalogue.get_provider(session, provider_id)
    if provider is None or not provider.is_active:
        raise _field_error(ProviderNotFound, f"{kind}_provider_id", f"no active provider {provider_id}")
    model = await session.scalar(
        select(ProviderModel).where(ProviderModel.id == model_id, ProviderModel.not_deleted())
    )
    if model is None or not model.is_active:
        raise _field_error(ModelNotFound, f"{kind}_model_id", f"no active model {model_id}")
    if model.provider_id != provider.id:
        raise _field_error(
            InvalidModelChoice,
            f"{kind}_model_id",
            f"model '{model.name}' does not belong to provider '{provider.value}'",
        )
    if model.model_type != kind:
        wanted = "a chat (llm)" if kind == "llm" else "an embedding"
        raise _field_error(
            InvalidModelChoice,
            f"{kind}_model_id",
            f"'{model.name}' is a {model.model_type} model; {kind}_model_id needs {wanted} model",
        )
    return provider, model


async def ids_by_name(session: AsyncSession, names: ByName) -> dict[str, uuid.UUID]:
    """llm/embedding provider and model ids from their names (an *_id given overrides its name)."""
    found: dict[str, uuid.UUID] = {}
    for kind in KINDS:
        provider_id = getattr(names, f"{kind}_provider_id")
        if provider_id is None:
            value = getattr(names, f"{kind}_provider")
            provider = await catalogue.provider_by_value(session, value.lower())
            if provider is None:
                raise _field_error(ProviderNotFound, f"{kind}_provider", f"no provider named '{value}'")
            provider_id = provider.id
        model_id = getattr(names, f"{kind}_model_id")
        if model_id is None:
            name = getattr(names, f"{kind}_model")
            model = await catalogue.model_by_name(session, provider_id, name)
            if model is None:
                raise _field_error(ModelNotFound, f"{kind}_model", f"provider has no model named '{name}'")
            model_id = model.id
        found[f"{kind}_provider_id"], found[f"{kind}_model_id"] = provider_id, model_id
    return found


def _set_key(row: LlmSettings, field: str, value: str | None, box: SecretBox) -> None:
    setattr(row, f"{field}_encrypted", box.encrypt(value) if value else None)
    setattr(row, f"{field}_hint", hint(value))


def plain_keys(box: SecretBox, row: LlmSettings) -> dict[str, str | None]:
    """The row's decrypted API keys by kind ("llm", "embedding"); None where it has none."""
    return {
        kind: box.decrypt(ciphertext) if (ciphertext := getattr(row, f"{kind}_api_key_encrypted")) else None
        for kind in KINDS
    }


async def validate_row(session: AsyncSession, row: LlmSettings, *, dimension_given: bool) -> None:
    """The row's choices fit the catalogue; base URLs a provider needs are there."""
    # Checked before anything is flushed: an autoflush of an unknown id was a foreign-key 500.
    with session.no_autoflush:
        await _validate_row(session, row, dimension_given=dimension_given)


async def _validate_row(session: AsyncSession, row: LlmSettings, *, dimension_given: bool) -> None:
    for kind in KINDS:
        provider, model = await check_choice(
            session,
            kind=kind,
            provider_id=getattr(row, f"{kind}_provider_id"),
            model_id=getattr(row, f"{kind}_model_id"),
        )
        if provider.requires_base_url and not (
            getattr(row, f"{kind}_api_base_url") or provider.default_base_url
        ):
            raise _field_error(
                BadRequest, f"{kind}_api_base_url", f"provider '{provider.value}' needs a base URL"
            )
        if kind == "embedding":
            if not dimension_given or row.embedding_dimension is None:
                # An embedding model always has a dimension (check constraint dimension_matches_type).
                row.embedding_dimension = model.embedding_dimension  # type: ignore[assignment]
            elif row.embedding_dimension > (model.embedding_dimension or 0):
                raise _field_error(
                    BadRequest,
                    "embedding_dimension",
                    f"'{model.name}' makes vectors of at most {model.embedding_dimension}",
                )


async def record_change(session: AsyncSession, row: LlmSettings, change: str, actor: Actor) -> None:
    """Record SettingsChangedV1 for this row (created, updated or deleted)."""
    config = (await effective.configurations(session, [row]))[row.id]
    data = SettingsChangedV1(
        settings_id=row.id,
        company_id=row.company_id,
        agent_id=row.agent_id,
        change=change,
        is_default=row.is_default,
        llm_provider=config.llm_provider,
        llm_model=config.llm_model,
        embedding_provider=config.embedding_provider,
        embedding_model=config.embedding_model,
        embedding_dimension=row.embedding_dimension,
    )
    await outbox.add(session, data, company_id=row.company_id, actor=actor)


async def _affected(session: AsyncSession, row: LlmSettings) -> list[Agent]:
    return await effective.live_agents(session, row.company_id, row.agent_id)


async def _clear_other_defaults(session: AsyncSession, row: LlmSettings) -> None:
    if row.is_default and row.agent_id is None:
        await session.execute(
            update(LlmSettings)
            .where(
                LlmSettings.company_id == row.company_id,
                LlmSettings.agent_id.is_(None),
                LlmSettings.id != row.id,
                LlmSettings.is_default.is_(True),
            )
            .values(is_default=False)
        )


async def get_settings(
    session: AsyncSession, settings_id: uuid.UUID, company_id: uuid.UUID | None
) -> LlmSettings:
    """Live settings of this company (any company when None), or settings_not_found."""
    query = select(LlmSettings).where(LlmSettings.id == settings_id, LlmSettings.not_deleted())
    if company_id is not None:
        query = query.where(LlmSettings.company_id == company_id)
    row = await session.scalar(query)
    if row is None:
        raise SettingsNotFound()
    return row


async def create_settings(
    session: AsyncSession,
    box: SecretBox,
    *,
    company_id: uuid.UUID,
    fields: dict[str, Any],
    actor: Actor,
    record_agent_events: bool = True,
) -> LlmSettings:
    """Add company-level (agent_id absent) or agent-level settings."""
    agent_id = fields.get("agent_id")
    if agent_id is not None:
        if await agents.get(session, agent_id, company_id) is None:
            raise AgentNotFound()
        if await session.scalar(
            select(LlmSettings.id).where(LlmSettings.agent_id == agent_id, LlmSettings.not_deleted())
        ):
            raise AgentHasSettings()
    keys = {f: fields.get(f) for f in SECRET_FIELDS}
    columns = {k: v for k, v in fields.items() if k not in (*SECRET_FIELDS, "company_id")}
    affected = await effective.live_agents(session, company_id, agent_id) if record_agent_events else []
    before = await effective.snapshots(session, affected)
    row = LlmSettings(company_id=company_id, is_active=True, **columns)
    for field, value in keys.items():
        _set_key(row, field, value, box)
    await validate_row(session, row, dimension_given=fields.get("embedding_dimension") is not None)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise AgentHasSettings() from exc
    await _clear_other_defaults(session, row)
    await record_change(session, row, "created", actor)
    if affected:
        await effective.publish_changes(session, before, affected, actor=actor)
    return row


async def update_settings(
    session: AsyncSession,
    box: SecretBox,
    row: LlmSettings,
    data: SettingsUpdate,
    *,
    actor: Actor,
    record_agent_events: bool = True,
) -> LlmSettings:
    """Change the fields given; a changed model is checked against the catalogue again.

    With record_agent_events false the caller publishes the affected agents' events itself.
    """
    changes = data.changes()
    null = [
        f
        for f, v in changes.items()
        if v is None
        and f not in (*SECRET_FIELDS, "llm_api_base_url", "embedding_api_base_url", "widget_script_url")
    ]
    if null:
        raise BadRequest(f"{', '.join(null)} cannot be null")
    affected = await _affected(session, row) if record_agent_events else []
    before = await effective.snapshots(session, affected)
    for field, value in changes.items():
        if field in SECRET_FIELDS:
            _set_key(row, field, value, box)
        else:
            setattr(row, field, value)
    model_changed = "embedding_model_id" in changes and "embedding_dimension" not in changes
    await validate_row(session, row, dimension_given=not model_changed)
    await session.flush()
    await _clear_other_defaults(session, row)
    await record_change(session, row, "updated", actor)
    if affected:
        await effective.publish_changes(session, before, affected, actor=actor)
    return row


async def delete_settings(session: AsyncSession, row: LlmSettings, *, actor: Actor) -> None:
    """Soft-delete settings; refused while agents would be left with none."""
    affected = await _affected(session, row)
    before = await effective.snapshots(session, affected)
    row.soft_delete()
    await session.flush()
    after = await effective.snapshots(session, affected)
    orphans = [s.name for s in after.values() if s.configuration is None]
    if orphans:
        row.restore()
        raise SettingsInUse(
            f"Agents would be left without settings ({', '.join(sorted(orphans)[:5])}); "
            "create other company settings first"
        )
    await record_change(session, row, "deleted", actor)
    await effective.publish_changes(session, before, affected, actor=actor)


async def list_settings(session: AsyncSession, company_id: uuid.UUID) -> list[LlmSettings]:
    """A company's live settings: company-level first (default first), then agent-level, newest first."""
    return list(
        (
            await session.scalars(
                select(LlmSettings)
                .where(LlmSettings.company_id == company_id, LlmSettings.not_deleted())
                .order_by(
                    LlmSettings.agent_id.is_not(None),
                    LlmSettings.is_default.desc(),
                    LlmSettings.created_at.desc(),
                )
            )
        ).all()
    )

