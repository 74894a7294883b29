"""agents tables (schema `agents`): shared tables (outbox, tasks), the catalogue, agents, settings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base, utcnow
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.db.softdelete import SoftDeleteMixin
from knowrithm_common.messaging.outbox import Outbox

SCHEMA = "agents"
Base = make_base(SCHEMA)
shared = SharedTables(Base.metadata)
outbox = Outbox(source="agents", table=shared.outbox)


def unique_among_live(name: str, *columns: str) -> Index:
    """Unique among live rows only, so a soft-deleted row's value can be used again."""
    return Index(name, *columns, unique=True, postgresql_where=text("deleted_at IS NULL"))


class Provider(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """An LLM and/or embedding provider of the platform-wide catalogue (no company: reference data)."""

    __tablename__ = "providers"
    __table_args__ = (
        unique_among_live("uq_providers_value_live", "value"),
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
        unique_among_live("uq_provider_models_provider_id_name_live", "provider_id", "name"),
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


class Agent(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A company's assistant: identity, behaviour and widget; its LLM settings live in llm_settings."""

    __tablename__ = "agents"
    __table_args__ = (
        unique_among_live("uq_agents_company_id_name_live", "company_id", "name"),
        CheckConstraint("status IN ('active', 'inactive', 'training', 'maintenance')", name="status"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="active")
    personality_traits: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    capabilities: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    languages: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    operating_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    widget_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    widget_script_url: Mapped[str | None] = mapped_column(String(500))
    # Time of the newest agent event recorded for it (the envelope's): the version other services'
    # projections compare, stamped on `rpc.agents.agent.v1` answers so they apply like that event.
    event_time: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class LlmSettings(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """LLM and embedding settings of a company (agent_id null) or of one agent; keys encrypted."""

    __tablename__ = "llm_settings"
    __table_args__ = (
        # One live settings row per agent.
        Index(
            "uq_llm_settings_agent_id_live", "agent_id",
            unique=True, postgresql_where=text("deleted_at IS NULL AND agent_id IS NOT NULL"),
        ),
        CheckConstraint("llm_temperature >= 0 AND llm_temperature <= 2", name="temperature_range"),
        CheckConstraint("llm_max_tokens >= 1", name="max_tokens_positive"),
        CheckConstraint("embedding_dimension >= 1", name="dimension_positive"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"), index=True)
    llm_provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    llm_model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("provider_models.id"))
    llm_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    llm_api_key_hint: Mapped[str | None] = mapped_column(String(20))
    llm_api_base_url: Mapped[str | None] = mapped_column(String(500))
    llm_temperature: Mapped[float] = mapped_column(Float, default=0.7)
    llm_max_tokens: Mapped[int] = mapped_column(Integer, default=1000)
    llm_additional_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    embedding_provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    embedding_model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("provider_models.id"))
    embedding_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    embedding_api_key_hint: Mapped[str | None] = mapped_column(String(20))
    embedding_api_base_url: Mapped[str | None] = mapped_column(String(500))
    embedding_dimension: Mapped[int] = mapped_column(Integer)
    embedding_additional_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    widget_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    widget_script_url: Mapped[str | None] = mapped_column(String(500))
