"""Documents, chunks (text + embedding, the source of truth of the vector index), web site
sources and pages, and the agents projection.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "ingestion"


def _stamps(*, deleted: bool = True) -> list[sa.Column]:
    columns = [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]
    if deleted:
        columns.append(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    return columns


def _jsonb(name: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def _index(name: str, table: str, columns: list[str], **kw: object) -> None:
    op.create_index(name, table, columns, unique=False, schema=SCHEMA, **kw)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("embedding_provider", sa.String(length=100), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("embedding_dimension", sa.Integer(), nullable=True),
        sa.Column("embedding_api_base_url", sa.Text(), nullable=True),
        _jsonb("embedding_params"),
        _jsonb("widget_config"),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agents"),
        schema=SCHEMA,
    )
    _index("ix_agents_company_id", "agents", ["company_id"])
    op.create_table(
        "deleted_companies",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("company_id", name="pk_deleted_companies"),
        schema=SCHEMA,
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("document_type", sa.String(length=20), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("website_page_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("processing_error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=True),
        sa.Column("ocr_pages", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        schema=SCHEMA,
    )
    _index("ix_documents_company_agent", "documents", ["company_id", "agent_id"])
    _index("ix_documents_company_id", "documents", ["company_id"])
    _index("ix_documents_company_status", "documents", ["company_id", "status"])
    _index("ix_documents_deleted_at", "documents", ["deleted_at"])
    _index("ix_documents_website_page_id", "documents", ["website_page_id"])
    op.create_table(
        "chunks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("heading", sa.Text(), nullable=True),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["document_id"], [f"{SCHEMA}.documents.id"], name="fk_chunks_document_id_documents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chunks"),
        sa.UniqueConstraint("document_id", "chunk_index", name="uq_chunks_document_index"),
        schema=SCHEMA,
    )
    _index("ix_chunks_company_deleted", "chunks", ["company_id", "deleted_at"])
    _index("ix_chunks_deleted_at", "chunks", ["deleted_at"])
    _index("ix_chunks_document_id", "chunks", ["document_id"])
    op.create_table(
        "website_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        _jsonb("seed_urls"),
        _jsonb("allowed_paths"),
        _jsonb("disallowed_paths"),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("crawl_frequency_minutes", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _jsonb("crawl_config"),
        sa.Column("last_crawl_status", sa.String(length=20), nullable=True),
        sa.Column("last_crawl_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_crawl_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_website_sources"),
        schema=SCHEMA,
    )
    _index("ix_website_sources_company_agent", "website_sources", ["company_id", "agent_id"])
    _index("ix_website_sources_company_id", "website_sources", ["company_id"])
    _index("ix_website_sources_deleted_at", "website_sources", ["deleted_at"])
    op.create_table(
        "website_pages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("website_source_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("last_crawl_status", sa.String(length=20), nullable=True),
        sa.Column("last_crawled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("content_length", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=20), nullable=True),
        _jsonb("metadata"),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        *_stamps(deleted=False),
        sa.ForeignKeyConstraint(
            ["website_source_id"], [f"{SCHEMA}.website_sources.id"],
            name="fk_website_pages_website_source_id_website_sources", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_website_pages"),
        sa.UniqueConstraint("website_source_id", "canonical_url", name="uq_website_pages_source_url"),
        schema=SCHEMA,
    )
    _index("ix_website_pages_company_id", "website_pages", ["company_id"])
    _index("ix_website_pages_website_source_id", "website_pages", ["website_source_id"])


def downgrade() -> None:
    for table in ("website_pages", "website_sources", "chunks", "documents", "deleted_companies", "agents"):
        op.drop_table(table, schema=SCHEMA)
