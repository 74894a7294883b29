"""Registration projections and the shared platform tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from knowrithm_common.db.shared_tables import create_shared_tables, drop_shared_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "analytics"


def upgrade() -> None:
    create_shared_tables()
    op.create_table(
        "company_registrations",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name="pk_company_registrations"),
        schema=SCHEMA,
    )
    op.create_table(
        "user_registrations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid()),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_registrations"),
        schema=SCHEMA,
    )
    op.create_index("ix_user_registrations_company_id", "user_registrations", ["company_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("user_registrations", schema=SCHEMA)
    op.drop_table("company_registrations", schema=SCHEMA)
    drop_shared_tables()
