"""The shared platform tables (outbox, processed events, tasks).

Revision ID: 0001
Revises:
"""

from knowrithm_common.db.shared_tables import create_shared_tables, drop_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_shared_tables()


def downgrade() -> None:
    drop_shared_tables()
