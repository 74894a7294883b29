"""Company logos uploaded as files (POST /company and PUT/PATCH /company/{id} as multipart).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "company_logos",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], [f"{SCHEMA}.companies.id"], name=op.f("fk_company_logos_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_company_logos")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("company_logos", schema=SCHEMA)
