"""Agents and their LLM and embedding settings (per company or per agent; API keys encrypted).

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

SCHEMA = "agents"


def _common() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        _jsonb("personality_traits"),
        _jsonb("capabilities"),
        _jsonb("languages"),
        _jsonb("operating_hours"),
        _jsonb("widget_config"),
        sa.Column("widget_script_url", sa.String(length=500), nullable=True),
        *_common(),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'training', 'maintenance')", name=op.f("ck_agents_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_agents_company_id"), "agents", ["company_id"], unique=False, schema=SCHEMA)
    op.create_index(op.f("ix_agents_deleted_at"), "agents", ["deleted_at"], unique=False, schema=SCHEMA)
    op.create_index(
        "uq_agents_company_id_name_live",
        "agents",
        ["company_id", "name"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        schema=SCHEMA,
    )
    op.create_table(
        "llm_settings",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("llm_provider_id", sa.Uuid(), nullable=False),
        sa.Column("llm_model_id", sa.Uuid(), nullable=False),
        sa.Column("llm_api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("llm_api_key_hint", sa.String(length=20), nullable=True),
        sa.Column("llm_api_base_url", sa.String(length=500), nullable=True),
        sa.Column("llm_temperature", sa.Float(), nullable=False),
        sa.Column("llm_max_tokens", sa.Integer(), nullable=False),
        _jsonb("llm_additional_params"),
        sa.Column("embedding_provider_id", sa.Uuid(), nullable=False),
        sa.Column("embedding_model_id", sa.Uuid(), nullable=False),
        sa.Column("embedding_api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("embedding_api_key_hint", sa.String(length=20), nullable=True),
        sa.Column("embedding_api_base_url", sa.String(length=500), nullable=True),
        sa.Column("embedding_dimension", sa.Integer(), nullable=False),
        _jsonb("embedding_additional_params"),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _jsonb("widget_config"),
        sa.Column("widget_script_url", sa.String(length=500), nullable=True),
        *_common(),
        sa.CheckConstraint(
            "llm_temperature >= 0 AND llm_temperature <= 2", name=op.f("ck_llm_settings_temperature_range")
        ),
        sa.CheckConstraint("llm_max_tokens >= 1", name=op.f("ck_llm_settings_max_tokens_positive")),
        sa.CheckConstraint("embedding_dimension >= 1", name=op.f("ck_llm_settings_dimension_positive")),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.agents.id"], name=op.f("fk_llm_settings_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["llm_provider_id"],
            ["agents.providers.id"],
            name=op.f("fk_llm_settings_llm_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["agents.provider_models.id"],
            name=op.f("fk_llm_settings_llm_model_id_provider_models"),
        ),
        sa.ForeignKeyConstraint(
            ["embedding_provider_id"],
            ["agents.providers.id"],
            name=op.f("fk_llm_settings_embedding_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["embedding_model_id"],
            ["agents.provider_models.id"],
            name=op.f("fk_llm_settings_embedding_model_id_provider_models"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_settings")),
        schema=SCHEMA,
    )
    for column in ("company_id", "agent_id", "deleted_at"):
        op.create_index(
            op.f(f"ix_llm_settings_{column}"), "llm_settings", [column], unique=False, schema=SCHEMA
        )
    op.create_index(
        "uq_llm_settings_agent_id_live",
        "llm_settings",
        ["agent_id"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND agent_id IS NOT NULL"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("llm_settings", schema=SCHEMA)
    op.drop_table("agents", schema=SCHEMA)
