"""HTTP API of the providers and models catalogue (platform-wide reference data).

Any signed-in caller reads it (API keys need the `read` scope); only super admins change it,
because every company's agents choose from it. Writes answer synchronously with the resource.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Literal

from fastapi import APIRouter, Depends, Query

from knowrithm_agents.providers import repository as repo
from knowrithm_agents.providers import seed, service
from knowrithm_agents.providers.schemas import (
    BulkImport,
    CatalogueOut,
    Deleted,
    ImportCounts,
    ImportOut,
    ModelCreate,
    ModelListOut,
    ModelOut,
    ModelUpdate,
    ProviderCreate,
    ProviderListOut,
    ProviderOut,
    ProviderUpdate,
    ProviderWithModelsOut,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Role, authenticated, require_roles, require_scopes
from knowrithm_common.openapi import errors

router = APIRouter()

# Platform reference data, no company: anyone signed in reads it (API keys with `read`).
signed_in = [Depends(authenticated), Depends(require_scopes(["read"]))]
super_admins = [Depends(require_roles(Role.SUPER_ADMIN)), Depends(require_scopes(["write"]))]
PROVIDERS: list[str | Enum] = ["Providers"]
MODELS: list[str | Enum] = ["Models"]
PRICING_TIERS = ["free", "budget", "mid", "premium", "variable"]


def _import_out(counts: ImportCounts, what: str) -> ImportOut:
    return ImportOut(
        **counts.model_dump(),
        message=f"{what}: {counts.providers_created} providers and {counts.models_created} models created, "
                f"{counts.providers_updated} providers and {counts.models_updated} models updated",
    )


# -- providers


@router.get("/api/v1/providers", response_model=ProviderListOut, tags=PROVIDERS, dependencies=signed_in)
async def list_providers(
    session: Session,
    type: Literal["llm", "embedding", "both"] | None = Query(
        None, description="llm or embedding: providers offering that kind (`both` included); both: only those"
    ),
    include_models: bool = Query(False, description="Include each provider's models"),
    include_inactive: bool = Query(False, description="Include deactivated providers and models"),
) -> ProviderListOut:
    """List providers by sort order, optionally filtered by type and with their models."""
    providers = await repo.list_providers(session, provider_type=type, include_inactive=include_inactive)
    if not include_models:
        return ProviderListOut(providers=[ProviderOut.of(p) for p in providers], total=len(providers))
    models = await repo.models_of(session, [p.id for p in providers], include_inactive=include_inactive)
    return ProviderListOut(
        providers=[ProviderWithModelsOut.with_models(p, models.get(p.id, [])) for p in providers],
        total=len(providers),
    )


@router.post("/api/v1/providers", status_code=201, response_model=ProviderOut, tags=PROVIDERS,
             dependencies=super_admins, responses=errors(409))
async def create_provider(body: ProviderCreate, session: Session) -> ProviderOut:
    """Add a provider to the catalogue (super admin)."""
    return ProviderOut.of(await service.create_provider(session, body))


@router.post("/api/v1/providers/bulk-import", response_model=ImportOut, tags=PROVIDERS,
             dependencies=super_admins)
async def bulk_import(body: BulkImport, session: Session) -> ImportOut:
    """Create or update providers (by value) and their models (by name), all or nothing (super admin)."""
    return _import_out(await service.import_catalogue(session, body.providers), "Imported")


@router.get("/api/v1/providers/{provider_id}", response_model=ProviderWithModelsOut | ProviderOut,
            tags=PROVIDERS, dependencies=signed_in)
async def get_provider(
    provider_id: uuid.UUID, session: Session,
    include_models: bool = Query(True, description="Include the provider's active models"),
) -> ProviderWithModelsOut | ProviderOut:
    """A provider, with its active models unless include_models=false."""
    provider = await service.get_provider(session, provider_id)
    if not include_models:
        return ProviderOut.of(provider)
    models = await repo.models_of(session, [provider.id])
    return ProviderWithModelsOut.with_models(provider, models.get(provider.id, []))


@router.put("/api/v1/providers/{provider_id}", response_model=ProviderOut, tags=PROVIDERS,
            dependencies=super_admins, responses=errors(409))
async def update_provider(provider_id: uuid.UUID, body: ProviderUpdate, session: Session) -> ProviderOut:
    """Change the fields given; the value cannot change (super admin)."""
    return ProviderOut.of(await service.update_provider(session, provider_id, body))


@router.delete("/api/v1/providers/{provider_id}", response_model=Deleted, tags=PROVIDERS,
               dependencies=super_admins)
async def delete_provider(provider_id: uuid.UUID, session: Session) -> Deleted:
    """Soft-delete a provider together with its models (super admin)."""
    count = await service.delete_provider(session, provider_id)
    return Deleted(message=f"Provider deleted with its {count} models")


# -- models


@router.get("/api/v1/providers/{provider_id}/models", response_model=ModelListOut, tags=MODELS,
            dependencies=signed_in)
async def list_models(
    provider_id: uuid.UUID, session: Session,
    type: Literal["llm", "embedding"] | None = Query(None, description="Only models of this type"),
    include_inactive: bool = Query(False, description="Include deactivated models"),
) -> ModelListOut:
    """A provider's models by sort order, optionally of one type."""
    provider = await service.get_provider(session, provider_id)
    found = await repo.models_of(session, [provider.id], model_type=type, include_inactive=include_inactive)
    models = found.get(provider.id, [])
    return ModelListOut(provider=ProviderOut.of(provider), models=[ModelOut.of(m) for m in models],
                        total=len(models))


@router.post("/api/v1/providers/{provider_id}/models", status_code=201, response_model=ModelOut, tags=MODELS,
             dependencies=super_admins, responses=errors(409))
async def create_model(provider_id: uuid.UUID, body: ModelCreate, session: Session) -> ModelOut:
    """Add a model to a provider; embedding models need embedding_dimension (super admin)."""
    return ModelOut.of(await service.create_model(session, provider_id, body))


@router.get("/api/v1/providers/{provider_id}/models/{model_id}", response_model=ModelOut, tags=MODELS,
            dependencies=signed_in)
async def get_model(provider_id: uuid.UUID, model_id: uuid.UUID, session: Session) -> ModelOut:
    """A model of this provider."""
    return ModelOut.of(await service.get_model(session, provider_id, model_id))


@router.put("/api/v1/providers/{provider_id}/models/{model_id}", response_model=ModelOut, tags=MODELS,
            dependencies=super_admins)
async def update_model(
    provider_id: uuid.UUID, model_id: uuid.UUID, body: ModelUpdate, session: Session
) -> ModelOut:
    """Change the fields given; name and type cannot change (super admin)."""
    return ModelOut.of(await service.update_model(session, provider_id, model_id, body))


@router.delete("/api/v1/providers/{provider_id}/models/{model_id}", response_model=Deleted, tags=MODELS,
               dependencies=super_admins)
async def delete_model(provider_id: uuid.UUID, model_id: uuid.UUID, session: Session) -> Deleted:
    """Soft-delete a model (super admin)."""
    await service.delete_model(session, provider_id, model_id)
    return Deleted(message="Model deleted")


# -- settings views


@router.get("/api/v1/settings/providers", response_model=CatalogueOut, tags=PROVIDERS, dependencies=signed_in)
async def catalogue(session: Session) -> CatalogueOut:
    """Active providers with their active models, split into chat (llm) and embedding providers."""
    providers = await repo.list_providers(session, provider_type=None, include_inactive=False)
    models = await repo.models_of(session, [p.id for p in providers])
    llm, embedding = [], []
    for p in providers:
        mine = models.get(p.id, [])
        if p.provider_type in ("llm", "both"):
            llm.append(ProviderWithModelsOut.with_models(p, [m for m in mine if m.model_type == "llm"]))
        if p.provider_type in ("embedding", "both"):
            embedding.append(
                ProviderWithModelsOut.with_models(p, [m for m in mine if m.model_type == "embedding"])
            )
    stamps = [p.updated_at for p in providers] + [m.updated_at for ms in models.values() for m in ms]
    return CatalogueOut(llm_providers=llm, embedding_providers=embedding, metadata={
        "total_llm_providers": len(llm), "total_embedding_providers": len(embedding),
        "pricing_tiers": PRICING_TIERS, "last_updated": max(stamps).isoformat() if stamps else None,
    })


@router.post("/api/v1/settings/providers/seed", response_model=ImportOut, tags=PROVIDERS,
             dependencies=super_admins)
async def seed_providers(session: Session) -> ImportOut:
    """Create or update the built-in providers and models; a repeat run changes nothing (super admin)."""
    return _import_out(await seed.seed_providers(session), "Seeded")
