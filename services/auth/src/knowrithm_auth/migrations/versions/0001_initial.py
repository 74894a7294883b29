"""Companies, users and the shared platform tables.

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

SCHEMA = "auth"


def upgrade() -> None:
    create_shared_tables()
    op.create_table(
        "companies",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("phone", sa.String(50)),
        sa.Column("address_id", sa.Integer()),
        sa.Column("logo", sa.String(500)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
        sa.UniqueConstraint("email", name="uq_companies_email"),
        schema=SCHEMA,
    )
    op.create_index("ix_companies_deleted_at", "companies", ["deleted_at"], schema=SCHEMA)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "company_id",
            sa.Uuid(),
            sa.ForeignKey(f"{SCHEMA}.companies.id", name="fk_users_company_id_companies"),
        ),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("failed_login_attempts", sa.Integer(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        schema=SCHEMA,
    )
    op.create_index("ix_users_company_id", "users", ["company_id"], schema=SCHEMA)
    op.create_index("ix_users_deleted_at", "users", ["deleted_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("users", schema=SCHEMA)
    op.drop_table("companies", schema=SCHEMA)
    drop_shared_tables()
