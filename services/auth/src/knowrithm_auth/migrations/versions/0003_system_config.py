"""System configuration: entries and the revision counter the Redis snapshot is published at.

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

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "system_config",
        sa.Column("config_key", sa.String(length=100), nullable=False),
        sa.Column("config_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("encrypted_value", sa.Text(), nullable=True),
        sa.Column("config_type", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("is_sensitive", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("config_key", name=op.f("pk_system_config")),
        schema=SCHEMA,
    )
    op.create_table(
        "system_config_revision",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_config_revision")),
        schema=SCHEMA,
    )
    op.execute("INSERT INTO auth.system_config_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("system_config_revision", schema=SCHEMA)
    op.drop_table("system_config", schema=SCHEMA)
