"""Companies' database connections keep their live tables' bytes on disk (`total_size_bytes`).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "analytics"


def upgrade() -> None:
    op.add_column(
        "database_connections", sa.Column("total_size_bytes", sa.BigInteger(), nullable=True), schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_column("database_connections", "total_size_bytes", schema=SCHEMA)
