"""Projection of companies' database connections (issue 15): the dashboard's `database_analytics`.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "analytics"


def upgrade() -> None:
    op.create_table(
        "database_connections",
        sa.Column("database_connection_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("database_type", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("test_valid", sa.Boolean(), nullable=True),
        sa.Column("tested_by", sa.Uuid(), nullable=True),
        sa.Column("table_count", sa.Integer(), nullable=True),
        sa.Column("total_rows", sa.BigInteger(), nullable=True),
        sa.Column("tables_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("database_connection_id", name=op.f("pk_database_connections")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_database_connections_company_id"),
        "database_connections",
        ["company_id"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_database_connections_company_id"), table_name="database_connections", schema=SCHEMA
    )
    op.drop_table("database_connections", schema=SCHEMA)
