"""Analytics tables (schema `analytics`): projections built from events, webhooks, exports.

Every projection row is keyed by the id of what it describes (a message, a lead, a request),
so applying an event twice, or replaying the whole stream, leaves the same rows: facts are
inserted once (`ON CONFLICT DO NOTHING`), states are replaced only by a newer event
(`state_time`). Numbers are computed by queries over these rows, never kept as counters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import make_base
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.messaging.outbox import Outbox

SCHEMA = "analytics"
Base = make_base(SCHEMA)
shared = SharedTables(Base.metadata)
outbox = Outbox(source="analytics", table=shared.outbox)

TZ = DateTime(timezone=True)


class CompanyRegistration(Base):  # type: ignore[misc, valid-type]
    """One row per company that signed up (from auth.company.created.v1).

    `deleted_at` follows auth.company.deleted.v1 / auth.company.restored.v1: a deleted
    company, and its users, leave the counts until it is restored. `lifecycle_at` is the time
    of the last of those events applied, so a late redelivery of an older one changes nothing.
    """

    __tablename__ = "company_registrations"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    registered_at: Mapped[dt.datetime] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    lifecycle_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    # From the sign-up and auth.company.updated.v1; `updated_at` (the last update applied)
    # orders updates, so an older one redelivered late changes nothing.
    email: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class UserRegistration(Base):  # type: ignore[misc, valid-type]
    """One row per registered user (auth.user.registered.v1), kept by auth.user.updated.v1.

    `status` and `role` are replaced only by an event newer than `state_time`.
    """

    __tablename__ = "user_registrations"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    role: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[dt.datetime] = mapped_column(TZ)
    username: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30), default="active", server_default="active")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    state_time: Mapped[dt.datetime | None] = mapped_column(TZ)


class AgentFact(Base):  # type: ignore[misc, valid-type]
    """An agent's current name, status and model (agents.agent.*; replaced when newer)."""

    __tablename__ = "agents"

    agent_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30))
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    event_time: Mapped[dt.datetime] = mapped_column(TZ)


class ConversationFact(Base):  # type: ignore[misc, valid-type]
    """A conversation (conversations.conversation.created/deleted/restored.v1)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_company_started", "company_id", "started_at"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    entity_type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[uuid.UUID]
    started_at: Mapped[dt.datetime] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    lifecycle_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class MessageFact(Base):  # type: ignore[misc, valid-type]
    """One stored message (conversations.message.created.v1): tokens, latency, model."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_company_created", "company_id", "created_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    first_token_ms: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(200))
    citations: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(TZ)


class LeadFact(Base):  # type: ignore[misc, valid-type]
    """A lead's funnel state (conversations.lead.*). No personal data: events carry none.

    `status` is replaced only by an event newer than `state_time`; `converted_at` is the
    time of the first conversion seen.
    """

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_company_registered", "company_id", "registered_at"),
        Index("ix_leads_conversation_id", "conversation_id"),  # a conversation's lead
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    conversation_id: Mapped[uuid.UUID | None]
    channel: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    converted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    state_time: Mapped[dt.datetime] = mapped_column(TZ)


class FeedbackFact(Base):  # type: ignore[misc, valid-type]
    """One piece of feedback (conversations.feedback.given.v1): a rating and/or thumbs."""

    __tablename__ = "feedback"

    feedback_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(index=True)
    message_id: Mapped[uuid.UUID | None]
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    entity_type: Mapped[str] = mapped_column(String(20))
    rating: Mapped[int | None] = mapped_column(Integer)
    thumbs: Mapped[str | None] = mapped_column(String(4))
    has_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(TZ)


class DocumentFact(Base):  # type: ignore[misc, valid-type]
    """A document's processing state (ingestion.document.*)."""

    __tablename__ = "documents"

    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID | None]
    uploaded_by: Mapped[uuid.UUID | None]
    document_type: Mapped[str | None] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(20))
    file_size: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    page_count: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    word_count: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    failure_code: Mapped[str | None] = mapped_column(String(100))
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    state_time: Mapped[dt.datetime] = mapped_column(TZ)  # orders the processing status
    lifecycle_at: Mapped[dt.datetime | None] = mapped_column(TZ)  # orders deletion and restoration


class DatabaseConnectionFact(Base):  # type: ignore[misc, valid-type]
    """A company's database connection (ingestion.database_connection.*, ingestion.database_table.*).

    Each kind of state has the time of the event that set it, and is replaced only by a newer
    one: `state_time` the name and engine (created, updated), `lifecycle_at` the deletion and
    restoration, `tested_at` the last test, `tables_time` the tables' totals (analysed, a table
    deleted or restored: each carries the connection's live totals after it). Never its URL.
    """

    __tablename__ = "database_connections"

    database_connection_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    created_by: Mapped[uuid.UUID | None]
    name: Mapped[str | None] = mapped_column(String(100))
    database_type: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    state_time: Mapped[dt.datetime] = mapped_column(TZ)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    lifecycle_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    tested_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    test_valid: Mapped[bool | None] = mapped_column(Boolean)
    tested_by: Mapped[uuid.UUID | None]
    table_count: Mapped[int | None] = mapped_column(Integer)
    total_rows: Mapped[int | None] = mapped_column(BigInteger)
    total_size_bytes: Mapped[int | None] = mapped_column(BigInteger)  # (0005) None: no size known
    tables_time: Mapped[dt.datetime | None] = mapped_column(TZ)


class ApiKeyFact(Base):  # type: ignore[misc, valid-type]
    """An API key's name, limits and lifecycle (auth.api_key.created/revoked.v1)."""

    __tablename__ = "api_keys"

    api_key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(255))
    key_prefix: Mapped[str | None] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    rate_limit_per_hour: Mapped[int | None] = mapped_column(Integer)
    rate_limit_per_day: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TZ)
    expires_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class ApiRequestFact(Base):  # type: ignore[misc, valid-type]
    """One request through the gateway (gateway.api_requests.recorded.v1), keyed by request id."""

    __tablename__ = "api_requests"
    __table_args__ = (
        Index("ix_api_requests_company_time", "company_id", "time"),
        Index("ix_api_requests_key_time", "api_key_id", "time"),
        # platform-wide windows (the business gauges, the system-metric sampler)
        Index("ix_api_requests_time", "time"),
    )

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    time: Mapped[dt.datetime] = mapped_column(TZ)
    company_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None]
    api_key_id: Mapped[uuid.UUID | None]
    credential: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    rate_limited: Mapped[bool] = mapped_column(Boolean, default=False)
    ip: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):  # type: ignore[misc, valid-type]
    """The audit log: one row per event that records who did what (keyed by event id).

    From auth.audit.recorded.v1 (logins, refusals, admin actions: `action` as auth names it)
    and from every other service's domain events (`action` = the event type without its
    version, e.g. `agents.agent.created`), so the trail covers configuration and data changes.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_company_time", "company_id", "time"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_actor", "actor_id"),
        Index("ix_audit_log_target", "target_type", "target_id"),
    )

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    time: Mapped[dt.datetime] = mapped_column(TZ)
    company_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(10), default="success")
    risk_level: Mapped[str] = mapped_column(String(10), default="low")
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    impersonator_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


# Every table kept from events (rebuilt from the stream by `python -m knowrithm_analytics.rebuild`).
PROJECTION_TABLES: tuple[Any, ...] = (
    CompanyRegistration,
    UserRegistration,
    AgentFact,
    ConversationFact,
    MessageFact,
    LeadFact,
    FeedbackFact,
    DocumentFact,
    DatabaseConnectionFact,
    ApiKeyFact,
    ApiRequestFact,
    AuditEntry,
)


class Webhook(Base):  # type: ignore[misc, valid-type]
    """A company's subscription: deliver these event types to this URL, signed with its secret."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONB, default=list)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = mapped_column(TZ, default=lambda: dt.datetime.now(dt.UTC))
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, default=lambda: dt.datetime.now(dt.UTC))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class WebhookDelivery(Base):  # type: ignore[misc, valid-type]
    """One event to one webhook: every attempt's outcome, until delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    webhook_id: Mapped[uuid.UUID]
    company_id: Mapped[uuid.UUID]
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(120))
    # The envelope delivered (what a manual retry sends again).
    event: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZ, default=lambda: dt.datetime.now(dt.UTC))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    # The last attempt as sent (exact body, headers with the signature) and as answered
    # (headers, the first RESPONSE_BYTES of the body); when the next automatic attempt is due.
    request_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    request_body: Mapped[str | None] = mapped_column(Text)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class ExportFile(Base):  # type: ignore[misc, valid-type]
    """A finished export (CSV or JSON) waiting to be downloaded by its company until it expires."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    requested_by: Mapped[uuid.UUID | None]
    export_type: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    row_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(TZ, default=lambda: dt.datetime.now(dt.UTC))
    expires_at: Mapped[dt.datetime] = mapped_column(TZ)


class SystemMetricSample(Base):  # type: ignore[misc, valid-type]
    """One sampled value of a platform metric (projection lag, queue depth, event rate, ...).

    `company_id` is None for platform-wide samples. Kept for the 24-hour views of
    `admin/system-metric` and the dashboard's system health; older samples are pruned.
    """

    __tablename__ = "system_metric_samples"
    __table_args__ = (
        Index("ix_system_metric_samples_name_time", "metric_name", "time"),
        Index("ix_system_metric_samples_time", "time"),  # pruning by age
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    time: Mapped[dt.datetime] = mapped_column(TZ)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    metric_name: Mapped[str] = mapped_column(String(100))
    metric_type: Mapped[str] = mapped_column(String(20))  # gauge | counter | rate
    value: Mapped[float] = mapped_column(Float)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
