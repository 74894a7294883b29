"""conversations tables (schema `conversations`): conversations, messages, and the agents
projection the answer pipeline reads."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.db.softdelete import SoftDeleteMixin
from knowrithm_common.messaging.outbox import Outbox

SCHEMA = "conversations"
Base = make_base(SCHEMA)
shared = SharedTables(Base.metadata)
# The one way this service records an event or a job (in the caller's transaction).
outbox = Outbox(source="conversations", table=shared.outbox)


class EntityType(StrEnum):
    USER = "user"
    LEAD = "lead"
    API_KEY = "api_key"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    PENDING = "pending"  # an answer queued, not started
    STREAMING = "streaming"  # tokens are being generated
    COMPLETE = "complete"
    FAILED = "failed"


class Conversation(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A chat between one entity (a user, an API key's user, or a lead) and one agent."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_company_entity", "company_id", "entity_type", "entity_id"),
        Index("ix_conversations_company_agent", "company_id", "agent_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(String(255), default="New Conversation")
    status: Mapped[str] = mapped_column(String(20), default="active")
    conversation_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    max_context_length: Mapped[int] = mapped_column(Integer, default=4000)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    last_activity: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


NO_ANSWER = "role = 'assistant' AND (metadata ->> 'answer_found') = 'false'"


class Message(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        # The knowledge gaps read the answers that found nothing, by company and time.
        Index("ix_messages_no_answer", "company_id", "created_at", postgresql_where=text(NO_ANSWER)),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.COMPLETE.value)
    reply_to: Mapped[uuid.UUID | None]  # the user message an assistant message answers
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    message_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    first_token_ms: Mapped[int | None] = mapped_column(Integer)
    model_used: Mapped[str | None] = mapped_column(String(200))
    confidence_score: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error: Mapped[str | None] = mapped_column(Text)
    # An answer's task (tasks table): completed or failed in the transaction that finishes it.
    task_id: Mapped[uuid.UUID | None]


class AgentView(Base):  # type: ignore[misc, valid-type]
    """What conversations knows of an agent, kept from `events.agents.agent.*` (no API keys)."""

    __tablename__ = "agents"

    agent_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(default=False)
    personality_traits: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    languages: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    widget_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    llm_provider: Mapped[str | None] = mapped_column(String(100))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    llm_api_base_url: Mapped[str | None] = mapped_column(Text)
    llm_temperature: Mapped[float | None] = mapped_column(Float)
    llm_max_tokens: Mapped[int | None] = mapped_column(Integer)
    llm_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    LOST = "lost"


class Lead(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A widget visitor (or a prospect an admin recorded). Email and phone are encrypted at rest;
    `email_hash` (an HMAC of the lower-cased email and the company) finds a lead by exact email."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_company_status", "company_id", "status"),
        Index("ix_leads_company_email_hash", "company_id", "email_hash"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID | None]  # None for leads an admin created
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email_encrypted: Mapped[str | None] = mapped_column(Text)
    email_hash: Mapped[str | None] = mapped_column(String(64))
    phone_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=LeadStatus.NEW.value)
    source: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    consent_data_processing: Mapped[bool] = mapped_column(default=False)
    consent_marketing: Mapped[bool] = mapped_column(default=False)
    converted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_contacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lead_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # The lead token minted at registration: revoked (by jti, until it expires) on delete and erase.
    last_token_jti: Mapped[str | None] = mapped_column(String(64))
    last_token_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # GDPR erasure


class Feedback(IdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    """A rating or thumbs (and an optional comment) on an answer, or on a whole conversation."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_conversation_created", "conversation_id", "created_at"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    entity_type: Mapped[str] = mapped_column(String(20))  # who gave it: user | lead
    entity_id: Mapped[uuid.UUID]
    rating: Mapped[int | None] = mapped_column(Integer)
    thumbs: Mapped[str | None] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
