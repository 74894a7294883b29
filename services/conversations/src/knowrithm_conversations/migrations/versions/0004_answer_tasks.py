"""Each answer names the task that reports it (a chat turn's or an agent test's).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "conversations"


def upgrade() -> None:
    op.add_column("messages", sa.Column("task_id", sa.Uuid(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("messages", "task_id", schema=SCHEMA)
