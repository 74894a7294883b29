"""The agents projection learns the agent's language model; analysed tables keep their LLM summary's
model, the hash of the structure it describes, and the embedding of their summary.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def upgrade() -> None:
    op.add_column("agents", sa.Column("llm_provider", sa.String(length=100), nullable=True), schema=SCHEMA)
    op.add_column("agents", sa.Column("llm_model", sa.String(length=200), nullable=True), schema=SCHEMA)
    op.add_column("agents", sa.Column("llm_api_base_url", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "agents",
        sa.Column("llm_params", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )
    op.alter_column("agents", "llm_params", server_default=None, schema=SCHEMA)
    table = "database_tables"
    op.add_column(table, sa.Column("summary_model", sa.String(length=200), nullable=True), schema=SCHEMA)
    op.add_column(table, sa.Column("structure_hash", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.add_column(table, sa.Column("summary_embedding", postgresql.ARRAY(sa.REAL()), nullable=True),
                  schema=SCHEMA)
    op.add_column(table, sa.Column("summary_embedding_model", sa.String(length=200), nullable=True),
                  schema=SCHEMA)
    op.add_column(table, sa.Column("summary_embedding_hash", sa.String(length=64), nullable=True),
                  schema=SCHEMA)


def downgrade() -> None:
    for column in ("summary_embedding_hash", "summary_embedding_model", "summary_embedding", "structure_hash",
                   "summary_model"):
        op.drop_column("database_tables", column, schema=SCHEMA)
    for column in ("llm_params", "llm_api_base_url", "llm_model", "llm_provider"):
        op.drop_column("agents", column, schema=SCHEMA)
