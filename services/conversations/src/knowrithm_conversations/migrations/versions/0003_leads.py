"""Leads (email and phone encrypted at rest) and feedback on answers and conversations.

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

SCHEMA = "conversations"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _leads() -> None:
    op.create_table(
        "leads",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email_encrypted", sa.Text(), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_encrypted", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("consent_data_processing", sa.Boolean(), nullable=False),
        sa.Column("consent_marketing", sa.Boolean(), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_token_jti", sa.String(length=64), nullable=True),
        sa.Column("last_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_leads_company_id"), "leads", ["company_id"], unique=False, schema=SCHEMA)
    op.create_index(op.f("ix_leads_deleted_at"), "leads", ["deleted_at"], unique=False, schema=SCHEMA)
    op.create_index("ix_leads_company_status", "leads", ["company_id", "status"], unique=False, schema=SCHEMA)
    op.create_index(
        "ix_leads_company_email_hash", "leads", ["company_id", "email_hash"], unique=False, schema=SCHEMA
    )


def _feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("thumbs", sa.String(length=10), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            [f"{SCHEMA}.conversations.id"],
            name=op.f("fk_feedback_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            [f"{SCHEMA}.messages.id"],
            name=op.f("fk_feedback_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_feedback_company_id"), "feedback", ["company_id"], unique=False, schema=SCHEMA)
    op.create_index(op.f("ix_feedback_message_id"), "feedback", ["message_id"], unique=False, schema=SCHEMA)
    op.create_index(
        "ix_feedback_conversation_created",
        "feedback",
        ["conversation_id", "created_at"],
        unique=False,
        schema=SCHEMA,
    )


def upgrade() -> None:
    _leads()
    _feedback()


def downgrade() -> None:
    for table in ("feedback", "leads"):
        op.drop_table(table, schema=SCHEMA)
