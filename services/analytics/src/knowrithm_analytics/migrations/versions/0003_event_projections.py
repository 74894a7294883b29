"""Projections of every event family, the audit log, webhooks and exports.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "analytics"


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agents")),
        schema="analytics",
    )
    op.create_index(op.f("ix_agents_company_id"), "agents", ["company_id"], unique=False, schema="analytics")
    op.create_table(
        "api_keys",
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_prefix", sa.String(length=20), nullable=True),
        sa.Column("scopes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rate_limit_per_hour", sa.Integer(), nullable=True),
        sa.Column("rate_limit_per_day", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_api_keys")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_api_keys_company_id"), "api_keys", ["company_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "api_requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("credential", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("route", sa.String(length=300), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("rate_limited", sa.Boolean(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_api_requests")),
        schema="analytics",
    )
    op.create_index(
        "ix_api_requests_company_time",
        "api_requests",
        ["company_id", "time"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        "ix_api_requests_key_time", "api_requests", ["api_key_id", "time"], unique=False, schema="analytics"
    )
    op.create_table(
        "audit_log",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=120), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("risk_level", sa.String(length=10), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("impersonator_id", sa.Uuid(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("target_type", sa.String(length=50), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_log")),
        schema="analytics",
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"], unique=False, schema="analytics")
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_id"], unique=False, schema="analytics")
    op.create_index(
        "ix_audit_log_company_time", "audit_log", ["company_id", "time"], unique=False, schema="analytics"
    )
    op.create_index(
        "ix_audit_log_target", "audit_log", ["target_type", "target_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "conversations",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversations")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_conversations_agent_id"), "conversations", ["agent_id"], unique=False, schema="analytics"
    )
    op.create_index(
        "ix_conversations_company_started",
        "conversations",
        ["company_id", "started_at"],
        unique=False,
        schema="analytics",
    )
    op.create_table(
        "documents",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("document_type", sa.String(length=30), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_documents")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_documents_company_id"), "documents", ["company_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("export_type", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_exports_company_id"), "exports", ["company_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("thumbs", sa.String(length=4), nullable=True),
        sa.Column("has_comment", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_feedback")),
        schema="analytics",
    )
    op.create_index(op.f("ix_feedback_agent_id"), "feedback", ["agent_id"], unique=False, schema="analytics")
    op.create_index(
        op.f("ix_feedback_company_id"), "feedback", ["company_id"], unique=False, schema="analytics"
    )
    op.create_index(
        op.f("ix_feedback_conversation_id"), "feedback", ["conversation_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("consent_marketing", sa.Boolean(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_leads")),
        schema="analytics",
    )
    op.create_index(op.f("ix_leads_agent_id"), "leads", ["agent_id"], unique=False, schema="analytics")
    op.create_index(
        "ix_leads_company_registered",
        "leads",
        ["company_id", "registered_at"],
        unique=False,
        schema="analytics",
    )
    op.create_table(
        "messages",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("first_token_ms", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("citations", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_messages")),
        schema="analytics",
    )
    op.create_index(op.f("ix_messages_agent_id"), "messages", ["agent_id"], unique=False, schema="analytics")
    op.create_index(
        "ix_messages_company_created",
        "messages",
        ["company_id", "created_at"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        op.f("ix_messages_conversation_id"), "messages", ["conversation_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_id", name=op.f("uq_webhook_deliveries_webhook_id")),
        schema="analytics",
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_created",
        "webhook_deliveries",
        ["webhook_id", "created_at"],
        unique=False,
        schema="analytics",
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("event_types", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_webhooks_company_id"), "webhooks", ["company_id"], unique=False, schema="analytics"
    )
    op.create_table(
        "system_metric_samples",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("metric_name", sa.String(length=100), nullable=False),
        sa.Column("metric_type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_metric_samples")),
        schema="analytics",
    )
    op.create_index(
        op.f("ix_system_metric_samples_company_id"),
        "system_metric_samples",
        ["company_id"],
        unique=False,
        schema="analytics",
    )
    op.create_index(
        "ix_system_metric_samples_name_time",
        "system_metric_samples",
        ["metric_name", "time"],
        unique=False,
        schema="analytics",
    )
    op.create_index("ix_api_requests_time", "api_requests", ["time"], unique=False, schema="analytics")
    op.create_index(
        "ix_system_metric_samples_time", "system_metric_samples", ["time"], unique=False, schema="analytics"
    )
    op.create_index(
        "ix_leads_conversation_id", "leads", ["conversation_id"], unique=False, schema="analytics"
    )
    # companies: e-mail and active flag follow auth.company.created/updated.v1
    op.add_column(
        "company_registrations", sa.Column("email", sa.String(length=255), nullable=True), schema=SCHEMA
    )
    op.add_column("company_registrations", sa.Column("is_active", sa.Boolean(), nullable=True), schema=SCHEMA)
    op.add_column(
        "company_registrations",
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    # users: username, status and deletion follow auth.user.updated.v1
    op.add_column(
        "user_registrations", sa.Column("username", sa.String(length=100), nullable=True), schema=SCHEMA
    )
    op.add_column(
        "user_registrations",
        sa.Column("status", sa.String(length=30), server_default="active", nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "user_registrations",
        sa.Column("deleted", sa.Boolean(), server_default="false", nullable=False),
        schema=SCHEMA,
    )
    op.add_column(
        "user_registrations",
        sa.Column("state_time", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("system_metric_samples", schema="analytics")
    for name in ("state_time", "deleted", "status", "username"):
        op.drop_column("user_registrations", name, schema=SCHEMA)
    for name in ("updated_at", "is_active", "email"):
        op.drop_column("company_registrations", name, schema=SCHEMA)
    op.drop_index(op.f("ix_webhooks_company_id"), table_name="webhooks", schema="analytics")
    op.drop_table("webhooks", schema="analytics")
    op.drop_index(
        "ix_webhook_deliveries_webhook_created", table_name="webhook_deliveries", schema="analytics"
    )
    op.drop_table("webhook_deliveries", schema="analytics")
    op.drop_index(op.f("ix_messages_conversation_id"), table_name="messages", schema="analytics")
    op.drop_index("ix_messages_company_created", table_name="messages", schema="analytics")
    op.drop_index(op.f("ix_messages_agent_id"), table_name="messages", schema="analytics")
    op.drop_table("messages", schema="analytics")
    op.drop_index("ix_leads_company_registered", table_name="leads", schema="analytics")
    op.drop_index(op.f("ix_leads_agent_id"), table_name="leads", schema="analytics")
    op.drop_table("leads", schema="analytics")
    op.drop_index(op.f("ix_feedback_conversation_id"), table_name="feedback", schema="analytics")
    op.drop_index(op.f("ix_feedback_company_id"), table_name="feedback", schema="analytics")
    op.drop_index(op.f("ix_feedback_agent_id"), table_name="feedback", schema="analytics")
    op.drop_table("feedback", schema="analytics")
    op.drop_index(op.f("ix_exports_company_id"), table_name="exports", schema="analytics")
    op.drop_table("exports", schema="analytics")
    op.drop_index(op.f("ix_documents_company_id"), table_name="documents", schema="analytics")
    op.drop_table("documents", schema="analytics")
    op.drop_index("ix_conversations_company_started", table_name="conversations", schema="analytics")
    op.drop_index(op.f("ix_conversations_agent_id"), table_name="conversations", schema="analytics")
    op.drop_table("conversations", schema="analytics")
    op.drop_index("ix_audit_log_target", table_name="audit_log", schema="analytics")
    op.drop_index("ix_audit_log_company_time", table_name="audit_log", schema="analytics")
    op.drop_index("ix_audit_log_actor", table_name="audit_log", schema="analytics")
    op.drop_index("ix_audit_log_action", table_name="audit_log", schema="analytics")
    op.drop_table("audit_log", schema="analytics")
    op.drop_index("ix_api_requests_key_time", table_name="api_requests", schema="analytics")
    op.drop_index("ix_api_requests_company_time", table_name="api_requests", schema="analytics")
    op.drop_table("api_requests", schema="analytics")
    op.drop_index(op.f("ix_api_keys_company_id"), table_name="api_keys", schema="analytics")
    op.drop_table("api_keys", schema="analytics")
    op.drop_index(op.f("ix_agents_company_id"), table_name="agents", schema="analytics")
    op.drop_table("agents", schema="analytics")
