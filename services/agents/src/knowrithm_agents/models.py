"""agents tables (schema `agents`): the platform tables and the providers and models catalogue."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base
from knowrithm_common.db.platform import PlatformTables
from knowrithm_common.db.softdelete import SoftDeleteMixin

SCHEMA = "agents"
Base = make_base(SCHEMA)
platform = PlatformTables(Base.metadata)


class Provider(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """An LLM and/or embedding provider of the platform-wide catalogue (no company: reference data)."""

    __tablename__ = "providers"
    __table_args__ = (
        # Unique among live rows only, so a deleted provider's value can be used again.
        Index("uq_providers_value_live", "value", unique=True, postgresql_where=text("deleted_at IS NULL")),
        CheckConstraint("provider_type IN ('llm', 'embedding', 'both')", name="provider_type"),
    )

    value: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    provider_type: Mapped[str] = mapped_column(String(20))
    default_base_url: Mapped[str | None] = mapped_column(String(500))
    requires_api_key: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_base_url: Mapped[bool] = mapped_column(Boolean, default=False)
    api_key_env_var: Mapped[str | None] = mapped_column(String(100))
    pricing_tier: Mapped[str] = mapped_column(String(20))
    is_featured: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    logo_url: Mapped[str | None] = mapped_column(String(500))
    documentation_url: Mapped[str | None] = mapped_column(String(500))


class ProviderModel(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A chat (llm) or embedding model offered by a provider."""

    __tablename__ = "provider_models"
    __table_args__ = (
        Index(
            "uq_provider_models_provider_id_name_live", "provider_id", "name",
            unique=True, postgresql_where=text("deleted_at IS NULL"),
        ),
        CheckConstraint("model_type IN ('llm', 'embedding')", name="model_type"),
        # An embedding model has a vector size; a chat model has none.
        CheckConstraint(
            "(model_type = 'embedding') = (embedding_dimension IS NOT NULL)", name="dimension_matches_type"
        ),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str | None] = mapped_column(String(300))
    model_type: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    context_length: Mapped[int] = mapped_column(Integer, default=0)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    embedding_dimension: Mapped[int | None] = mapped_column(Integer)
    cost_per_1k_tokens_input: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    cost_per_1k_tokens_output: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    supports_streaming: Mapped[bool] = mapped_column(Boolean, default=True)
    supports_function_calling: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    is_recommended: Mapped[bool] = mapped_column(Boolean, default=False)
    is_deprecated: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[Any]] = mapped_column(JSONB, default=list)
