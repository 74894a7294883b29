"""Analysed tables keep their comment and size on disk; connections keep when an analysis of them
last completed (`updated_at` stays "last changed").

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def upgrade() -> None:
    op.add_column("database_tables", sa.Column("comment", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column("database_tables", sa.Column("size_bytes", sa.BigInteger(), nullable=True), schema=SCHEMA)
    op.add_column(
        "database_connections",
        sa.Column("last_analyzed_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("database_connections", "last_analyzed_at", schema=SCHEMA)
    op.drop_column("database_tables", "size_bytes", schema=SCHEMA)
    op.drop_column("database_tables", "comment", schema=SCHEMA)
