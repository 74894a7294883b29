"""Request and response models of the providers and models catalogue (field names from the Knowrithm API).

Request bodies are strict: a number given as a string or a flag given as a number is a 422, not a
silent conversion. Whether a model's type fits its provider, and whether it needs an embedding
dimension, is checked by the service against the stored row (an update may change only one side).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints

from knowrithm_agents.models import Provider, ProviderModel
from knowrithm_common.schemas import Body, PatchBody

ProviderType = Literal["llm", "embedding", "both"]
ModelType = Literal["llm", "embedding"]
PricingTier = Literal["free", "budget", "mid", "premium", "variable"]

MAX_INT = 2**31 - 1
Value = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://\S+$")]
EnvVar = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=30)]
SortOrder = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Dimension = Annotated[int, Field(ge=1, le=65536)]
Cost = Annotated[float, Field(ge=0, le=999999, allow_inf_nan=False)]


class ProviderFields(Body):
    description: Text | None = None
    provider_type: ProviderType = "llm"
    default_base_url: Url | None = None
    requires_api_key: bool = True
    requires_base_url: bool = False
    api_key_env_var: EnvVar | None = None
    pricing_tier: PricingTier = "mid"
    is_featured: bool = False
    sort_order: SortOrder = 0
    tags: Tags = []
    logo_url: Url | None = None
    documentation_url: Url | None = None


class ProviderCreate(ProviderFields):
    value: Value = Field(description="Stable identifier, e.g. 'openai'")
    label: Label = Field(description="Display label, e.g. 'OpenAI'")


class ProviderUpdate(PatchBody):
    not_null = ("label", "provider_type", "requires_api_key", "requires_base_url", "pricing_tier",
                "is_featured", "is_active", "sort_order", "tags")

    label: Label | None = None
    description: Text | None = None
    provider_type: ProviderType | None = None
    default_base_url: Url | None = None
    requires_api_key: bool | None = None
    requires_base_url: bool | None = None
    api_key_env_var: EnvVar | None = None
    pricing_tier: PricingTier | None = None
    is_featured: bool | None = None
    is_active: bool | None = None
    sort_order: SortOrder | None = None
    tags: Tags | None = None
    logo_url: Url | None = None
    documentation_url: Url | None = None


class ModelCreate(Body):
    name: ModelName
    display_name: DisplayName | None = None
    model_type: ModelType = "llm"
    description: Text | None = None
    context_length: Count = Field(0, validation_alias=AliasChoices("context_length", "context"))
    max_tokens: Count | None = None
    embedding_dimension: Dimension | None = Field(
        None, validation_alias=AliasChoices("embedding_dimension", "dimension")
    )
    cost_per_1k_tokens_input: Cost | None = None
    cost_per_1k_tokens_output: Cost | None = None
    supports_streaming: bool = True
    supports_function_calling: bool = False
    supports_vision: bool = False
    is_recommended: bool = False
    sort_order: SortOrder = 0
    tags: Tags = []


class ModelUpdate(PatchBody):
    not_null = ("context_length", "supports_streaming", "supports_function_calling", "supports_vision",
                "is_recommended", "is_deprecated", "is_active", "sort_order", "tags")

    display_name: DisplayName | None = None
    description: Text | None = None
    context_length: Count | None = None
    max_tokens: Count | None = None
    embedding_dimension: Dimension | None = None
    cost_per_1k_tokens_input: Cost | None = None
    cost_per_1k_tokens_output: Cost | None = None
    supports_streaming: bool | None = None
    supports_function_calling: bool | None = None
    supports_vision: bool | None = None
    is_recommended: bool | None = None
    is_deprecated: bool | None = None
    is_active: bool | None = None
    sort_order: SortOrder | None = None
    tags: Tags | None = None


class ImportedModel(ModelCreate):
    is_deprecated: bool = False


class ImportedProvider(ProviderCreate):
    models: Annotated[list[ImportedModel], Field(max_length=500)] = []


class BulkImport(Body):
    providers: Annotated[list[ImportedProvider], Field(min_length=1, max_length=200)]


class Pricing(BaseModel):
    input: float | None = Field(None, description="Cost per 1K input tokens")
    output: float | None = Field(None, description="Cost per 1K output tokens")


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class ModelOut(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID
    name: str
    display_name: str | None
    model_type: ModelType
    description: str | None
    context: int = Field(description="Context length (same as context_length)")
    context_length: int
    max_tokens: int | None
    dimension: int | None = Field(description="Embedding dimension (same as embedding_dimension)")
    embedding_dimension: int | None
    pricing: Pricing
    cost_per_1k_tokens_input: float | None
    cost_per_1k_tokens_output: float | None
    supports_streaming: bool
    supports_function_calling: bool
    supports_vision: bool
    is_recommended: bool
    is_deprecated: bool
    is_active: bool
    sort_order: int
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, m: ProviderModel) -> ModelOut:
        cost_in, cost_out = _money(m.cost_per_1k_tokens_input), _money(m.cost_per_1k_tokens_output)
        return cls(
            id=m.id, provider_id=m.provider_id, name=m.name, display_name=m.display_name,
            model_type=m.model_type, description=m.description, context=m.context_length,
            context_length=m.context_length, max_tokens=m.max_tokens, dimension=m.embedding_dimension,
            embedding_dimension=m.embedding_dimension, pricing=Pricing(input=cost_in, output=cost_out),
            cost_per_1k_tokens_input=cost_in, cost_per_1k_tokens_output=cost_out,
            supports_streaming=m.supports_streaming, supports_function_calling=m.supports_function_calling,
            supports_vision=m.supports_vision, is_recommended=m.is_recommended, is_deprecated=m.is_deprecated,
            is_active=m.is_active, sort_order=m.sort_order, tags=list(m.tags), created_at=m.created_at,
            updated_at=m.updated_at,
        )


class ProviderOut(BaseModel):
    id: uuid.UUID
    value: str
    label: str
    description: str | None
    provider_type: ProviderType
    default_base_url: str | None
    requires_api_key: bool
    requires_base_url: bool
    api_key_env_var: str | None
    pricing_tier: PricingTier
    is_featured: bool
    is_active: bool
    sort_order: int
    tags: list[str]
    logo_url: str | None
    documentation_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, p: Provider) -> ProviderOut:
        return cls.model_validate({c: getattr(p, c) for c in ProviderOut.model_fields})


class ProviderWithModelsOut(ProviderOut):
    models: list[ModelOut]

    @classmethod
    def with_models(cls, p: Provider, models: list[ProviderModel]) -> ProviderWithModelsOut:
        return cls(**ProviderOut.of(p).model_dump(), models=[ModelOut.of(m) for m in models])


class ProviderListOut(BaseModel):
    providers: list[ProviderWithModelsOut] | list[ProviderOut]
    total: int


class ModelListOut(BaseModel):
    provider: ProviderOut
    models: list[ModelOut]
    total: int


class Deleted(BaseModel):
    success: bool = True
    message: str


class ImportCounts(BaseModel):
    providers_created: int = 0
    providers_updated: int = 0
    providers_unchanged: int = 0
    models_created: int = 0
    models_updated: int = 0
    models_unchanged: int = 0


class ImportOut(ImportCounts):
    success: bool = True
    message: str


class CatalogueOut(BaseModel):
    llm_providers: list[ProviderWithModelsOut] = Field(description="Chat providers with their models")
    embedding_providers: list[ProviderWithModelsOut] = Field(
        description="Providers offering embedding models, with them"
    )
    metadata: dict[str, object]
