"""The pgvector search index: `vectors` (one row per chunk, any embedding dimension).

`embedding` has no fixed dimension because agents use different models; HNSW needs one, so
the pgvector store creates a partial expression index per dimension on first use
(`ix_vectors_hnsw_<dim>`). Full text uses the 'english' configuration: stemming lets a
question's "refunds" meet a passage's "refund", and text in other languages still matches
word for word because both sides go through the same configuration; the vector side carries
meaning across languages.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"
TS_CONFIG = "english"  # keep equal to vectorstore.pgvector.TS_CONFIG


def upgrade() -> None:
    # In public, so the type resolves on every service's default search_path.
    op.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
    op.create_table(
        "vectors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("embedding", VECTOR(), nullable=False),
        sa.Column(
            "content_tsv",
            postgresql.TSVECTOR(),
            sa.Computed(f"to_tsvector('{TS_CONFIG}'::regconfig, content)", persisted=True),
            nullable=False,
        ),
        sa.CheckConstraint("dimension = vector_dims(embedding)", name=op.f("ck_vectors_dimension_matches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vectors")),
        schema=SCHEMA,
    )
    # Keep vectors in the row (MAIN) and rows uncompressed up to a page: a scoped search reads
    # ~1,000 embeddings, and out-of-line (TOAST) storage costs a TOAST index lookup for each.
    op.execute(f"ALTER TABLE {SCHEMA}.vectors ALTER COLUMN embedding SET STORAGE MAIN")
    op.execute(f"ALTER TABLE {SCHEMA}.vectors SET (toast_tuple_target = 8160)")
    op.create_index(
        "ix_vectors_company_agent_model", "vectors", ["company_id", "agent_id", "model"], schema=SCHEMA
    )
    op.create_index("ix_vectors_company_document", "vectors", ["company_id", "document_id"], schema=SCHEMA)
    op.create_index(
        "ix_vectors_content_tsv", "vectors", ["content_tsv"], postgresql_using="gin", schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_table("vectors", schema=SCHEMA)  # takes the per-dimension HNSW indexes with it
