"""The providers and models catalogue (platform-wide reference data, no company).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
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


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("provider_type", sa.String(length=20), nullable=False),
        sa.Column("default_base_url", sa.String(length=500), nullable=True),
        sa.Column("requires_api_key", sa.Boolean(), nullable=False),
        sa.Column("requires_base_url", sa.Boolean(), nullable=False),
        sa.Column("api_key_env_var", sa.String(length=100), nullable=True),
        sa.Column("pricing_tier", sa.String(length=20), nullable=False),
        sa.Column("is_featured", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("documentation_url", sa.String(length=500), nullable=True),
        *_common(),
        sa.CheckConstraint(
            "provider_type IN ('llm', 'embedding', 'both')", name=op.f("ck_providers_provider_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_providers_deleted_at"), "providers", ["deleted_at"], unique=False, schema=SCHEMA)
    op.create_index(
        "uq_providers_value_live", "providers", ["value"], unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"), schema=SCHEMA,
    )
    op.create_table(
        "provider_models",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("model_type", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("embedding_dimension", sa.Integer(), nullable=True),
        sa.Column("cost_per_1k_tokens_input", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("cost_per_1k_tokens_output", sa.Numeric(precision=12, scale=6), nullable=True),
        sa.Column("supports_streaming", sa.Boolean(), nullable=False),
        sa.Column("supports_function_calling", sa.Boolean(), nullable=False),
        sa.Column("supports_vision", sa.Boolean(), nullable=False),
        sa.Column("is_recommended", sa.Boolean(), nullable=False),
        sa.Column("is_deprecated", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *_common(),
        sa.CheckConstraint(
            "model_type IN ('llm', 'embedding')", name=op.f("ck_provider_models_model_type")
        ),
        sa.CheckConstraint(
            "(model_type = 'embedding') = (embedding_dimension IS NOT NULL)",
            name=op.f("ck_provider_models_dimension_matches_type"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["agents.providers.id"], name=op.f("fk_provider_models_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_models")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_provider_models_provider_id"), "provider_models", ["provider_id"], unique=False,
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_provider_models_deleted_at"), "provider_models", ["deleted_at"], unique=False, schema=SCHEMA
    )
    op.create_index(
        "uq_provider_models_provider_id_name_live", "provider_models", ["provider_id", "name"], unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"), schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("provider_models", schema=SCHEMA)
    op.drop_table("providers", schema=SCHEMA)
