"""Knowledge gaps: a partial index on the answers that found nothing (`metadata.answer_found`
false), by company and time.

Revision ID: 0005_gaps
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_gaps"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "conversations"
NO_ANSWER = "role = 'assistant' AND (metadata ->> 'answer_found') = 'false'"


def upgrade() -> None:
    op.create_index("ix_messages_no_answer", "messages", ["company_id", "created_at"], unique=False,
                    schema=SCHEMA, postgresql_where=sa.text(NO_ANSWER))


def downgrade() -> None:
    op.drop_index("ix_messages_no_answer", table_name="messages", schema=SCHEMA)
