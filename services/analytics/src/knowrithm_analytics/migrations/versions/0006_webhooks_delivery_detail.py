"""Webhook deliveries keep what was sent and what the receiver answered (lane: webhooks).

The exact body and headers (signature included) of the last attempt, the receiver's headers
and an excerpt of its body, and when the next automatic attempt is due.

Revision ID: 0006_webhooks
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_webhooks"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "analytics"
TABLE = "webhook_deliveries"
COLUMNS = (
    ("request_headers", JSONB()),
    ("request_body", sa.Text()),
    ("response_headers", JSONB()),
    ("response_body", sa.Text()),
    ("next_attempt_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column(TABLE, sa.Column(name, kind, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    for name, _kind in reversed(COLUMNS):
        op.drop_column(TABLE, name, schema=SCHEMA)
