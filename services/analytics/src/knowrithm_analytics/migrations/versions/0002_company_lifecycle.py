"""Company deletion and restoration on the registration projection.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "analytics"


def upgrade() -> None:
    for name in ("deleted_at", "lifecycle_at"):
        op.add_column("company_registrations", sa.Column(name, sa.DateTime(timezone=True)), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("company_registrations", "lifecycle_at", schema=SCHEMA)
    op.drop_column("company_registrations", "deleted_at", schema=SCHEMA)
