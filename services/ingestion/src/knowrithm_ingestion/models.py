"""ingestion tables (schema `ingestion`): documents, chunks, web site sources and pages, and
the agents projection. The vector index lives in `vectors` (pgvector adapter) or Weaviate."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    REAL,
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base, utcnow
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.db.softdelete import SoftDeleteMixin
from knowrithm_common.messaging.outbox import Outbox

SCHEMA = "ingestion"
Base = make_base(SCHEMA)
shared = SharedTables(Base.metadata)
outbox = Outbox(source="ingestion", table=shared.outbox)


class DocumentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


class DocumentSource(StrEnum):
    UPLOAD = "upload"
    URL = "url"
    WEBSITE = "website"


class Document(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_company_agent", "company_id", "agent_id"),
        Index("ix_documents_company_status", "company_id", "status"),
        Index("ix_documents_upload_task_id", "upload_task_id",
              postgresql_where=text("upload_task_id IS NOT NULL")),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]  # who uploaded it (a user, or the user behind an API key)
    original_filename: Mapped[str] = mapped_column(String(255))
    document_type: Mapped[str] = mapped_column(String(20))
    content_type: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20), default=DocumentSource.UPLOAD.value)
    source_url: Mapped[str | None] = mapped_column(Text)
    website_page_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.PENDING.value)
    processing_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(50))
    page_count: Mapped[int | None] = mapped_column(Integer)
    word_count: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    ocr_pages: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[uuid.UUID | None]
    upload_task_id: Mapped[uuid.UUID | None]  # the upload's task, which follows all its documents
    processing_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # processing runs queued so far (upload 1, each retry or reprocess +1; migration 0009)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="1")


class DocumentEvent(Base):  # type: ignore[misc, valid-type]
    """One stage transition of a document's processing (its timeline), written in the transaction of the
    change it records. `attempt` is the processing run (Document.attempts), `delivery` the job's
    delivery within that run (redeliveries after a retryable error)."""

    __tablename__ = "document_events"
    __table_args__ = (Index("ix_document_events_document_at", "document_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    company_id: Mapped[uuid.UUID]
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    delivery: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(50))
    detail: Mapped[str | None] = mapped_column(Text)


class Chunk(TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A passage of a document with its embedding: the source of truth the vector index mirrors.

    The id is derived from (document id, index), so processing a document again yields the same
    ids and replaces rows and vectors instead of adding to them.
    """

    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("document_id", "chunk_index", name="uq_chunks_document_index"),
        Index("ix_chunks_company_deleted", "company_id", "deleted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    word_count: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding: Mapped[list[float]] = mapped_column(ARRAY(REAL))


class WebsiteSource(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "website_sources"
    __table_args__ = (Index("ix_website_sources_company_agent", "company_id", "agent_id"),)

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    base_url: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(255))
    seed_urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    allowed_paths: Mapped[list[str]] = mapped_column(JSONB, default=list)
    disallowed_paths: Mapped[list[str]] = mapped_column(JSONB, default=list)
    max_depth: Mapped[int] = mapped_column(Integer, default=2)
    max_pages: Mapped[int] = mapped_column(Integer, default=50)
    crawl_frequency_minutes: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    crawl_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    last_crawl_status: Mapped[str | None] = mapped_column(String(20))
    last_crawl_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_crawl_completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # widget handshake


class WebsitePage(IdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "website_pages"
    __table_args__ = (
        UniqueConstraint("website_source_id", "canonical_url", name="uq_website_pages_source_url"),
    )

    website_source_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("website_sources.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    canonical_url: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    last_crawl_status: Mapped[str | None] = mapped_column(String(20))  # pending | crawled | failed | excluded
    last_crawled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content_length: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(20))
    page_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    document_id: Mapped[uuid.UUID | None]


class DatabaseConnection(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A company's own database an agent learns from. The URL (with its password) is stored only
    encrypted (`url_encrypted`, Fernet with ENCRYPTION_KEY); host, port, database and user are kept
    in clear for display. A SQLite connection has no URL: its file is an uploaded blob."""

    __tablename__ = "database_connections"
    __table_args__ = (
        Index("ix_database_connections_company_agent", "company_id", "agent_id"),
        Index("uq_database_connections_agent_name", "agent_id", text("lower(name)"), unique=True,
              postgresql_where=text("deleted_at IS NULL")),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]  # who created it
    name: Mapped[str] = mapped_column(String(100))
    database_type: Mapped[str] = mapped_column(String(20))  # canonical: postgresql, mysql, ...
    url_encrypted: Mapped[str | None] = mapped_column(Text)  # None for SQLite (a blob instead)
    url_masked: Mapped[str | None] = mapped_column(Text)  # the URL with its password as ***
    host: Mapped[str | None] = mapped_column(String(1024))  # several hosts (MongoDB) comma-separated
    port: Mapped[int | None] = mapped_column(Integer)
    database_name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(255))
    connection_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    pool_size: Mapped[int] = mapped_column(Integer, default=5)
    max_overflow: Mapped[int] = mapped_column(Integer, default=10)
    sqlite_blob_key: Mapped[str | None] = mapped_column(String(255))
    sqlite_filename: Mapped[str | None] = mapped_column(String(255))
    sqlite_size: Mapped[int | None] = mapped_column(BigInteger)
    sqlite_sha256: Mapped[str | None] = mapped_column(String(64))
    last_tested: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    test_status: Mapped[str | None] = mapped_column(String(20))  # ok | failed (the test route's)
    test_result: Mapped[str | None] = mapped_column(Text)
    # (migration 0008) when an analysis of it last completed, whether or not it changed anything
    # (`updated_at` stays "last changed").
    last_analyzed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DatabaseTable(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """What an analysis learnt of one table (or MongoDB collection) of a connection; deleted with it."""

    __tablename__ = "database_tables"
    __table_args__ = (
        UniqueConstraint("connection_id", "schema", "name", name="uq_database_tables_connection_schema_name"),
        Index("ix_database_tables_company_deleted", "company_id", "deleted_at"),
    )

    company_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("database_connections.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    schema_name: Mapped[str] = mapped_column("schema", String(255), default="")  # "" where there is none
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    primary_key: Mapped[list[str]] = mapped_column(JSONB, default=list)
    foreign_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    row_estimate: Mapped[int | None] = mapped_column(BigInteger)
    sample_rows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    # (migration 0007) who wrote `summary` (the agent's LLM model; None: no summary, the structure
    # speaks), the hash of the structure it describes (an unchanged table is not asked about again),
    # and the embedding of the summary in use (the stored one, else the structure's sentence) with its
    # model and the hash of the text embedded: text-to-SQL ranks tables by it.
    summary_model: Mapped[str | None] = mapped_column(String(200))
    structure_hash: Mapped[str | None] = mapped_column(String(64))
    summary_embedding: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    summary_embedding_model: Mapped[str | None] = mapped_column(String(200))
    summary_embedding_hash: Mapped[str | None] = mapped_column(String(64))
    # (migration 0008) the table's own comment in its database, and its size on disk with its
    # indexes where the engine tells (None: unknown, e.g. a view or SQLite without `dbstat`).
    comment: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)


# The audit of queries on companies' databases (migration 0006): one row per execution or refusal.
# The statement itself is not kept, only its SHA-256: it may hold a customer's values.
class DatabaseQuery(IdMixin, Base):  # type: ignore[misc, valid-type]
    """Who ran which statement (its hash) on which connection, and how it ended."""

    __tablename__ = "database_queries"
    __table_args__ = (Index("ix_database_queries_company_created", "company_id", "created_at"),)

    company_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("database_connections.id", ondelete="CASCADE"), index=True
    )
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | api_key | agent | system ...
    actor_id: Mapped[uuid.UUID | None]
    sql_sha256: Mapped[str] = mapped_column(String(64))  # of the statement as given (pipeline: its JSON)
    source: Mapped[str] = mapped_column(String(10))  # person | model | sample
    rows: Mapped[int | None] = mapped_column(Integer)
    elapsed_ms: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(10))  # ok | refused | failed | timeout
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class AgentView(Base):  # type: ignore[misc, valid-type]
    """What ingestion knows of an agent, kept from `events.agents.agent.*` (no API keys)."""

    __tablename__ = "agents"

    agent_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(default=False)
    embedding_provider: Mapped[str | None] = mapped_column(String(100))
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dimension: Mapped[int | None] = mapped_column(Integer)
    embedding_api_base_url: Mapped[str | None] = mapped_column(Text)
    embedding_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # the agent's language model (migration 0007): text-to-SQL and table summaries (None: offline)
    llm_provider: Mapped[str | None] = mapped_column(String(100))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    llm_api_base_url: Mapped[str | None] = mapped_column(Text)
    llm_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    widget_config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    event_time: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # of the event last applied
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CompanyView(Base):  # type: ignore[misc, valid-type]
    """Companies deleted in auth: their documents are hidden until a restore."""

    __tablename__ = "deleted_companies"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deleted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


# The pgvector store's index (migration 0002; written only by vectorstore/pgvector.py, with SQL
# of its own). Declared here so the migrations check compares it too. Per-dimension HNSW
# indexes are created at run time by the store and are not part of this declaration.
vectors = Table(
    "vectors",
    Base.metadata,
    Column("id", Uuid, primary_key=True),
    Column("company_id", Uuid, nullable=False),
    Column("agent_id", Uuid, nullable=False),
    Column("document_id", Uuid, nullable=False),
    Column("chunk_index", Integer, nullable=False),
    Column("page", Integer),
    Column("content", Text, nullable=False),
    Column("model", String(200), nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("embedding", VECTOR(), nullable=False),
    Column("content_tsv", TSVECTOR, Computed("to_tsvector('english'::regconfig, content)", persisted=True),
           nullable=False),
    CheckConstraint("dimension = vector_dims(embedding)", name="dimension_matches"),
    Index("ix_vectors_company_agent_model", "company_id", "agent_id", "model"),
    Index("ix_vectors_company_document", "company_id", "document_id"),
    Index("ix_vectors_content_tsv", "content_tsv", postgresql_using="gin"),
)
