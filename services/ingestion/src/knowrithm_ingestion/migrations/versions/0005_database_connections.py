"""Companies' own databases: connections (URL encrypted at rest) and the tables analysis finds.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    op.create_table(
        "database_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("database_type", sa.String(length=20), nullable=False),
        sa.Column("url_encrypted", sa.Text(), nullable=True),
        sa.Column("url_masked", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=1024), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("database_name", sa.String(length=255), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        _jsonb("connection_params"),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("max_overflow", sa.Integer(), nullable=False),
        sa.Column("sqlite_blob_key", sa.String(length=255), nullable=True),
        sa.Column("sqlite_filename", sa.String(length=255), nullable=True),
        sa.Column("sqlite_size", sa.BigInteger(), nullable=True),
        sa.Column("sqlite_sha256", sa.String(length=64), nullable=True),
        sa.Column("last_tested", sa.DateTime(timezone=True), nullable=True),
        sa.Column("test_status", sa.String(length=20), nullable=True),
        sa.Column("test_result", sa.Text(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_database_connections"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_database_connections_company_id", "database_connections", ["company_id"], schema=SCHEMA
    )
    op.create_index(
        "ix_database_connections_deleted_at", "database_connections", ["deleted_at"], schema=SCHEMA
    )
    op.create_index(
        "ix_database_connections_company_agent",
        "database_connections",
        ["company_id", "agent_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "uq_database_connections_agent_name",
        "database_connections",
        ["agent_id", sa.text("lower(name)")],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "database_tables",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("schema", sa.String(length=255), nullable=False),
        _jsonb("columns"),
        _jsonb("primary_key"),
        _jsonb("foreign_keys"),
        sa.Column("row_estimate", sa.BigInteger(), nullable=True),
        _jsonb("sample_rows"),
        sa.Column("summary", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            [f"{SCHEMA}.database_connections.id"],
            name="fk_database_tables_connection_id_database_connections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_database_tables"),
        sa.UniqueConstraint(
            "connection_id", "schema", "name", name="uq_database_tables_connection_schema_name"
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_database_tables_connection_id", "database_tables", ["connection_id"], schema=SCHEMA)
    op.create_index("ix_database_tables_deleted_at", "database_tables", ["deleted_at"], schema=SCHEMA)
    op.create_index(
        "ix_database_tables_company_deleted", "database_tables", ["company_id", "deleted_at"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("database_tables", schema=SCHEMA)
    op.drop_table("database_connections", schema=SCHEMA)
