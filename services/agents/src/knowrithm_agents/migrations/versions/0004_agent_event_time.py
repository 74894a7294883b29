"""Agents remember the time of their newest event (the version `rpc.agents.agent.v1` answers with).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "agents"


def upgrade() -> None:
    op.add_column("agents", sa.Column("event_time", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    # Existing agents: their last change is no later than their last event, so projections that
    # already hold that event keep it (an owner's answer never replaces a newer state).
    op.execute("UPDATE agents.agents SET event_time = updated_at")
    op.alter_column("agents", "event_time", nullable=False, server_default=sa.text("now()"), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("agents", "event_time", schema=SCHEMA)
