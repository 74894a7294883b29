"""Documents remember the upload that brought them: its task follows all of them at once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def upgrade() -> None:
    op.add_column("documents", sa.Column("upload_task_id", sa.Uuid(), nullable=True), schema=SCHEMA)
    op.create_index(
        "ix_documents_upload_task_id", "documents", ["upload_task_id"], schema=SCHEMA,
        postgresql_where=sa.text("upload_task_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_documents_upload_task_id", "documents", schema=SCHEMA)
    op.drop_column("documents", "upload_task_id", schema=SCHEMA)
