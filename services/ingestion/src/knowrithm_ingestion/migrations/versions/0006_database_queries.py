"""The audit of every query run on a company's own database (refusals too).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def upgrade() -> None:
    op.create_table(
        "database_queries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("sql_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("elapsed_ms", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            [f"{SCHEMA}.database_connections.id"],
            name="fk_database_queries_connection_id_database_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_database_queries"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_database_queries_company_created", "database_queries", ["company_id", "created_at"], schema=SCHEMA
    )
    op.create_index("ix_database_queries_connection_id", "database_queries", ["connection_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("database_queries", schema=SCHEMA)
