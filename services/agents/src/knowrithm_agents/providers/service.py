"""Use cases of the providers and models catalogue: create, update, delete, import (upsert).

Every write is a super admin's and flushes only; the request's session commits. The catalogue
publishes no events yet (nothing consumes it); agents and settings, which reference it, will.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents.models import Provider, ProviderModel
from knowrithm_agents.providers import repository as repo
from knowrithm_agents.providers.schemas import (
    ImportCounts,
    ImportedModel,
    ImportedProvider,
    ModelCreate,
    ModelUpdate,
    ProviderCreate,
    ProviderUpdate,
)
from knowrithm_common.errors import Conflict, NotFound, ValidationFailed

CENT_FRACTION = Decimal("0.000001")
SUPPORTED = {"llm": {"llm"}, "embedding": {"embedding"}, "both": {"llm", "embedding"}}


class ProviderNotFound(NotFound):
    code, message = "provider_not_found", "Provider not found"


class ModelNotFound(NotFound):
    code, message = "model_not_found", "Model not found"


class ProviderExists(Conflict):
    code, message = "provider_exists", "A provider with this value already exists"


class ModelExists(Conflict):
    code, message = "model_exists", "This provider already has a model with this name"


class ProviderTypeInUse(Conflict):
    code = "provider_type_in_use"


class ModelTypeNotSupported(ValidationFailed):
    code = "model_type_not_supported"


class InvalidEmbeddingDimension(ValidationFailed):
    code = "invalid_embedding_dimension"


def _stored(field: str, value: Any) -> Any:
    """Costs are kept as exact decimals with six places, so re-importing a price changes nothing."""
    if field.startswith("cost_per_1k") and value is not None:
        return Decimal(str(value)).quantize(CENT_FRACTION)
    return value


def _apply(row: Provider | ProviderModel, changes: dict[str, Any]) -> bool:
    """Set the changed fields; True when anything differed."""
    changed = False
    for field, value in changes.items():
        value = _stored(field, value)
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed


def check_model(provider: Provider, model: ProviderModel | dict[str, Any], *, loc: list[Any]) -> None:
    """A model's type must be offered by its provider; only embedding models have a dimension."""
    get = model.get if isinstance(model, dict) else lambda f: getattr(model, f)
    model_type, dimension = get("model_type"), get("embedding_dimension")
    if model_type not in SUPPORTED[provider.provider_type]:
        raise ModelTypeNotSupported(
            f"Provider '{provider.value}' is {provider.provider_type}-only and cannot have "
            f"{model_type} models",
            detail=[{"loc": [*loc, "model_type"], "msg": "not offered by the provider",
                     "type": "value_error"}],
        )
    if model_type == "embedding" and dimension is None:
        raise InvalidEmbeddingDimension(
            "An embedding model needs its embedding_dimension (the length of its vectors, 1 or more)",
            detail=[{"loc": [*loc, "embedding_dimension"], "msg": "required", "type": "missing"}],
        )
    if model_type == "llm" and dimension is not None:
        raise InvalidEmbeddingDimension(
            "Only embedding models have an embedding_dimension; leave it out for llm models",
            detail=[{"loc": [*loc, "embedding_dimension"], "msg": "not allowed", "type": "extra_forbidden"}],
        )


async def _check_type_covers_models(session: AsyncSession, provider: Provider) -> None:
    in_use = await repo.model_types_in_use(session, provider.id) - SUPPORTED[provider.provider_type]
    if in_use:
        raise ProviderTypeInUse(
            f"Provider '{provider.value}' still has {', '.join(sorted(in_use))} models; "
            f"delete them before making it {provider.provider_type}-only"
        )


async def _flush(session: AsyncSession, conflict: Callable[[], Exception]) -> None:
    """Flush; a unique violation that raced past the check becomes the domain's 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise conflict() from exc


async def get_provider(session: AsyncSession, provider_id: uuid.UUID) -> Provider:
    """A live provider, or provider_not_found."""
    provider = await repo.get_provider(session, provider_id)
    if provider is None:
        raise ProviderNotFound()
    return provider


async def get_model(session: AsyncSession, provider_id: uuid.UUID, model_id: uuid.UUID) -> ProviderModel:
    """A live model of a live provider; a model of another provider is model_not_found."""
    await get_provider(session, provider_id)
    model = await repo.get_model(session, provider_id, model_id)
    if model is None:
        raise ModelNotFound()
    return model


async def create_provider(session: AsyncSession, data: ProviderCreate) -> Provider:
    """Add a provider; its value must be free among live providers."""
    if await repo.provider_by_value(session, data.value) is not None:
        raise ProviderExists()
    provider = Provider(**data.model_dump(), is_active=True)
    session.add(provider)
    await _flush(session, ProviderExists)
    return provider


async def update_provider(session: AsyncSession, provider_id: uuid.UUID, data: ProviderUpdate) -> Provider:
    """Change a provider; narrowing its type is refused while it has models of the other type."""
    provider = await get_provider(session, provider_id)
    _apply(provider, data.changes())
    await _check_type_covers_models(session, provider)
    await session.flush()
    return provider


async def delete_provider(session: AsyncSession, provider_id: uuid.UUID) -> int:
    """Soft-delete a provider and its models; answers how many models went with it."""
    provider = await get_provider(session, provider_id)
    models = await repo.live_models(session, provider.id)
    provider.soft_delete()
    for model in models:
        model.deleted_at = provider.deleted_at
    await session.flush()
    return len(models)


async def create_model(session: AsyncSession, provider_id: uuid.UUID, data: ModelCreate) -> ProviderModel:
    """Add a model to a provider; its name must be free within the provider."""
    provider = await get_provider(session, provider_id)
    fields = {k: _stored(k, v) for k, v in data.model_dump().items()}
    check_model(provider, fields, loc=["body"])
    if await repo.model_by_name(session, provider.id, data.name) is not None:
        raise ModelExists()
    model = ProviderModel(provider_id=provider.id, **fields, is_deprecated=False, is_active=True)
    session.add(model)
    await _flush(session, ModelExists)
    return model


async def update_model(
    session: AsyncSession, provider_id: uuid.UUID, model_id: uuid.UUID, data: ModelUpdate
) -> ProviderModel:
    """Change a model; the result must still fit its provider."""
    model = await get_model(session, provider_id, model_id)
    provider = await get_provider(session, provider_id)
    _apply(model, data.changes())
    check_model(provider, model, loc=["body"])
    await session.flush()
    return model


async def delete_model(session: AsyncSession, provider_id: uuid.UUID, model_id: uuid.UUID) -> None:
    """Soft-delete a model."""
    model = await get_model(session, provider_id, model_id)
    model.soft_delete()
    await session.flush()


async def import_catalogue(session: AsyncSession, providers: list[ImportedProvider]) -> ImportCounts:
    """Upsert providers by value and their models by name; fields left out of an entry stay as they are.

    All or nothing: the first invalid entry refuses the whole import. Concurrent imports and
    seeds wait for each other, so two runs never create the same provider twice.
    """
    await repo.lock_for_import(session)
    counts = ImportCounts()
    for i, entry in enumerate(providers):
        provider = await _upsert_provider(session, entry, counts)
        for j, model in enumerate(entry.models):
            await _upsert_model(session, provider, model, counts, loc=["body", "providers", i, "models", j])
        await _check_type_covers_models(session, provider)
    return counts


async def _upsert_provider(session: AsyncSession, entry: ImportedProvider, counts: ImportCounts) -> Provider:
    provider = await repo.provider_by_value(session, entry.value)
    if provider is None:
        provider = await _add_provider(session, entry, counts)
    elif _apply(provider, entry.model_dump(include=entry.model_fields_set - {"value", "models"})):
        counts.providers_updated += 1
    else:
        counts.providers_unchanged += 1
    return provider


async def _add_provider(session: AsyncSession, entry: ImportedProvider, counts: ImportCounts) -> Provider:
    provider = Provider(**entry.model_dump(exclude={"models"}), is_active=True)
    session.add(provider)
    await session.flush()
    counts.providers_created += 1
    return provider


async def _upsert_model(
    session: AsyncSession, provider: Provider, entry: ImportedModel, counts: ImportCounts, *, loc: list[Any]
) -> None:
    model = await repo.model_by_name(session, provider.id, entry.name)
    if model is None:
        await _add_model(session, provider, entry, loc=loc)
        counts.models_created += 1
        return
    changed = _apply(model, entry.model_dump(include=entry.model_fields_set - {"name"}))
    check_model(provider, model, loc=loc)
    if changed:
        counts.models_updated += 1
    else:
        counts.models_unchanged += 1


async def _add_model(
    session: AsyncSession, provider: Provider, entry: ImportedModel, *, loc: list[Any]
) -> None:
    fields = {k: _stored(k, v) for k, v in entry.model_dump().items()}
    check_model(provider, fields, loc=loc)
    defaults = {"is_deprecated": False, "is_active": True}
    session.add(ProviderModel(provider_id=provider.id, **{**defaults, **fields}))
    await session.flush()


async def add_missing(session: AsyncSession, providers: list[ImportedProvider]) -> ImportCounts:
    """Create the providers and models the catalogue has never had; leave every existing one alone.

    "Never had" means no row, live or deleted, with that provider value (model name within the
    provider): a super admin's edits, deactivations and deletions all stay as they are. A model
    that no longer fits its edited provider (the provider was narrowed to one kind) is skipped.
    Serialised with imports and seeds, so replicas starting together create nothing twice.
    """
    await repo.lock_for_import(session)
    counts = ImportCounts()
    for entry in providers:
        provider = await repo.provider_ever_named(session, entry.value)
        if provider is None:
            provider = await _add_provider(session, entry, counts)
        else:
            counts.providers_unchanged += 1
            if provider.deleted_at is not None:
                counts.models_unchanged += len(entry.models)
                continue
        for model in entry.models:
            if await repo.model_ever_named(session, provider.id, model.name) is not None:
                counts.models_unchanged += 1
                continue
            if model.model_type not in SUPPORTED[provider.provider_type]:
                continue
            await _add_model(session, provider, model, loc=["providers", entry.value, model.name])
            counts.models_created += 1
    return counts
