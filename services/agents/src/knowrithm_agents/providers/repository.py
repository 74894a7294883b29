"""Queries of the providers and models catalogue.

The catalogue is platform-wide reference data, so nothing here is scoped by company. Deleted
rows are never returned; inactive ones only when asked for.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents.models import Provider, ProviderModel

# Any fixed 64-bit number works; this one spells "catalog" so it is recognisable in pg_locks.
IMPORT_LOCK_KEY = 0x636174616C6F67
PROVIDER_TYPES_OFFERING = {"llm": ("llm", "both"), "embedding": ("embedding", "both"), "both": ("both",)}


async def lock_for_import(session: AsyncSession) -> None:
    """Put concurrent seeds and bulk imports in line until this transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


async def list_providers(
    session: AsyncSession, *, provider_type: str | None, include_inactive: bool
) -> list[Provider]:
    """Live providers by sort order then label; `provider_type` llm/embedding also matches `both`."""
    query = select(Provider).where(Provider.not_deleted())
    if provider_type is not None:
        query = query.where(Provider.provider_type.in_(PROVIDER_TYPES_OFFERING[provider_type]))
    if not include_inactive:
        query = query.where(Provider.is_active.is_(True))
    return list((await session.scalars(query.order_by(Provider.sort_order, Provider.label))).all())


async def get_provider(session: AsyncSession, provider_id: uuid.UUID) -> Provider | None:
    return await session.scalar(select(Provider).where(Provider.id == provider_id, Provider.not_deleted()))


async def provider_by_value(session: AsyncSession, value: str) -> Provider | None:
    return await session.scalar(select(Provider).where(Provider.value == value, Provider.not_deleted()))


async def provider_ever_named(session: AsyncSession, value: str) -> Provider | None:
    """The provider with this value, the live one first, else a deleted one."""
    live_first = Provider.deleted_at.desc().nulls_first()
    return await session.scalar(select(Provider).where(Provider.value == value).order_by(live_first).limit(1))


async def models_of(
    session: AsyncSession, provider_ids: Iterable[uuid.UUID], *, model_type: str | None = None,
    include_inactive: bool = False,
) -> dict[uuid.UUID, list[ProviderModel]]:
    """Live models of the given providers, grouped by provider, by sort order then name."""
    query = select(ProviderModel).where(ProviderModel.provider_id.in_(list(provider_ids)),
                                        ProviderModel.not_deleted())
    if model_type is not None:
        query = query.where(ProviderModel.model_type == model_type)
    if not include_inactive:
        query = query.where(ProviderModel.is_active.is_(True))
    grouped: dict[uuid.UUID, list[ProviderModel]] = defaultdict(list)
    for model in await session.scalars(query.order_by(ProviderModel.sort_order, ProviderModel.name)):
        grouped[model.provider_id].append(model)
    return grouped


async def get_model(
    session: AsyncSession, provider_id: uuid.UUID, model_id: uuid.UUID
) -> ProviderModel | None:
    """A live model, only under the provider it belongs to."""
    return await session.scalar(select(ProviderModel).where(
        ProviderModel.id == model_id, ProviderModel.provider_id == provider_id, ProviderModel.not_deleted()
    ))


async def model_by_name(session: AsyncSession, provider_id: uuid.UUID, name: str) -> ProviderModel | None:
    return await session.scalar(select(ProviderModel).where(
        ProviderModel.provider_id == provider_id, ProviderModel.name == name, ProviderModel.not_deleted()
    ))


async def model_ever_named(session: AsyncSession, provider_id: uuid.UUID, name: str) -> ProviderModel | None:
    """The provider's model with this name, live or deleted."""
    return await session.scalar(select(ProviderModel).where(
        ProviderModel.provider_id == provider_id, ProviderModel.name == name
    ).limit(1))


async def model_types_in_use(session: AsyncSession, provider_id: uuid.UUID) -> set[str]:
    """The model types the provider's live models have."""
    rows = await session.scalars(select(ProviderModel.model_type).distinct().where(
        ProviderModel.provider_id == provider_id, ProviderModel.not_deleted()
    ))
    return set(rows.all())


async def live_models(session: AsyncSession, provider_id: uuid.UUID) -> list[ProviderModel]:
    return list((await session.scalars(select(ProviderModel).where(
        ProviderModel.provider_id == provider_id, ProviderModel.not_deleted()
    ))).all())
