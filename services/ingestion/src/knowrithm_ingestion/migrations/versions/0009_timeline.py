"""Documents' processing history (lane timeline): one row per stage transition, and a document's
count of processing runs. Documents processed before keep `attempts` 1 and no events: their
history answers from the document row.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def upgrade() -> None:
    op.add_column("documents", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
                  schema=SCHEMA)
    op.create_table(
        "document_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("delivery", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("code", sa.String(50), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"], [f"{SCHEMA}.documents.id"], name="fk_document_events_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_document_events"),
        schema=SCHEMA,
    )
    op.create_index("ix_document_events_document_at", "document_events", ["document_id", "at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_document_events_document_at", "document_events", schema=SCHEMA)
    op.drop_table("document_events", schema=SCHEMA)
    op.drop_column("documents", "attempts", schema=SCHEMA)
