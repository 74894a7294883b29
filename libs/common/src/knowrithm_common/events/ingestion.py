"""Events published by the ingestion service, and the jobs it queues for its workers.

Events (past tense) go to the EVENTS stream as `events.ingestion.…`; jobs (imperative) go to
the JOBS work queue as `jobs.ingestion.…` and are consumed by ingestion workers only. Both
travel in the same envelope and through the same outbox, so a job exists if and only if the
change that asked for it committed.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel, Field

from knowrithm_common.events.envelope import EventData

JOB_SUBJECT_PREFIX = "jobs."


class JobData(EventData):
    """Base of job payloads: published on `jobs.<event_type>` (the JOBS work queue)."""

    @classmethod
    def subject(cls) -> str:
        return JOB_SUBJECT_PREFIX + cls.event_type


# --- events -------------------------------------------------------------------------------


class DocumentRef(BaseModel):
    """The document an event is about, and its agent (the first fields of document events)."""

    document_id: uuid.UUID
    agent_id: uuid.UUID | None


class WebsiteSourceRef(BaseModel):
    """The web site source an event is about, and its agent (the first fields of its events)."""

    website_source_id: uuid.UUID
    agent_id: uuid.UUID


class DatabaseConnectionRef(BaseModel):
    """The database connection an event is about, and its agent (never its URL or password)."""

    database_connection_id: uuid.UUID
    agent_id: uuid.UUID


class DocumentUploadedV1(DocumentRef, EventData):
    """A document was accepted (file or URL) and queued for processing."""

    event_type: ClassVar[str] = "ingestion.document.uploaded.v1"

    original_filename: str
    document_type: str
    file_size: int
    source: str = Field(description="upload | url | website")


class DocumentProcessedV1(DocumentRef, EventData):
    """A document was extracted, chunked, embedded and indexed: it is searchable."""

    event_type: ClassVar[str] = "ingestion.document.processed.v1"

    document_type: str
    page_count: int
    chunk_count: int
    word_count: int
    ocr_pages: int = 0
    embedding_model: str
    duration_ms: int


class DocumentFailedV1(DocumentRef, EventData):
    """A document could not be processed; `reason` is written for the user who uploaded it."""

    event_type: ClassVar[str] = "ingestion.document.failed.v1"

    document_type: str
    code: str
    reason: str


class DocumentDeletedV1(DocumentRef, EventData):
    """A document (and its chunks) was soft-deleted; its vectors were removed."""

    event_type: ClassVar[str] = "ingestion.document.deleted.v1"


class DocumentRestoredV1(DocumentRef, EventData):
    """A soft-deleted document was restored with its chunks and vectors."""

    event_type: ClassVar[str] = "ingestion.document.restored.v1"


class WebsiteSourceRegisteredV1(WebsiteSourceRef, EventData):
    """A web site was registered as a knowledge source of an agent."""

    event_type: ClassVar[str] = "ingestion.website.registered.v1"

    base_url: str
    domain: str


class WebsiteCrawledV1(WebsiteSourceRef, EventData):
    """A crawl of a web site source finished (`status` completed or failed)."""

    event_type: ClassVar[str] = "ingestion.website.crawled.v1"

    status: str
    pages_crawled: int
    pages_changed: int
    pages_failed: int
    error: str | None = None


class WebsiteSourceDeletedV1(WebsiteSourceRef, EventData):
    """A web site source was deleted with its pages, documents and vectors."""

    event_type: ClassVar[str] = "ingestion.website.deleted.v1"


class DatabaseConnectionCreatedV1(DatabaseConnectionRef, EventData):
    """A company connected one of its databases to an agent (the URL stays encrypted in ingestion)."""

    event_type: ClassVar[str] = "ingestion.database_connection.created.v1"

    name: str
    database_type: str = Field(description="postgresql | cockroachdb | mysql | sqlite | mongodb | mssql")
    host: str | None = Field(None, description="None for sqlite (an uploaded file)")
    database: str | None = None


class DatabaseConnectionUpdatedV1(DatabaseConnectionRef, EventData):
    """A database connection changed (`fields` names what changed; a new URL says `url`, not its value)."""

    event_type: ClassVar[str] = "ingestion.database_connection.updated.v1"

    name: str
    database_type: str
    fields: list[str]


class DatabaseConnectionDeletedV1(DatabaseConnectionRef, EventData):
    """A database connection was soft-deleted with its tables' metadata."""

    event_type: ClassVar[str] = "ingestion.database_connection.deleted.v1"

    tables_deleted: int = 0


class DatabaseConnectionRestoredV1(DatabaseConnectionRef, EventData):
    """A soft-deleted database connection was restored with the tables deleted with it."""

    event_type: ClassVar[str] = "ingestion.database_connection.restored.v1"

    tables_restored: int = 0


# --- lane "exec" (issue 15, second slice): the test route -----------------------------------


class DatabaseConnectionTestedV1(DatabaseConnectionRef, EventData):
    """A database connection was tested now (never its URL; `message` holds no password)."""

    event_type: ClassVar[str] = "ingestion.database_connection.tested.v1"

    is_valid: bool
    server_version: str | None = None
    latency_ms: float | None = None
    warnings: list[str] = Field(default_factory=list)


# --- lane "analyze and tables" (issue 15): analyses of a connection and its tables' metadata


class DatabaseConnectionAnalyzedV1(DatabaseConnectionRef, EventData):
    """An analysis of a connection finished: what it learnt of its tables is stored."""

    event_type: ClassVar[str] = "ingestion.database_connection.analyzed.v1"

    table_count: int = Field(description="live tables of the connection after the analysis")
    tables_added: int = 0
    tables_changed: int = 0
    tables_removed: int = Field(0, description="gone from the database: soft-deleted")


class DatabaseTablesDeletedV1(DatabaseConnectionRef, EventData):
    """Tables' metadata of a connection was soft-deleted (one, or all of them)."""

    event_type: ClassVar[str] = "ingestion.database_table.deleted.v1"

    table_ids: list[uuid.UUID]


class DatabaseTableRestoredV1(DatabaseConnectionRef, EventData):
    """A soft-deleted table's metadata was restored."""

    event_type: ClassVar[str] = "ingestion.database_table.restored.v1"

    table_id: uuid.UUID


# --- jobs ---------------------------------------------------------------------------------


class ProcessDocument(JobData):
    """Extract, chunk, embed and index one document (replacing whatever it had before)."""

    event_type: ClassVar[str] = "ingestion.document.process.v1"

    document_id: uuid.UUID
    task_id: uuid.UUID | None = None


class WebsiteSourceJob(JobData):
    """Base of the jobs on one web site source, with the task that reports on them."""

    website_source_id: uuid.UUID
    task_id: uuid.UUID | None = None


class CrawlWebsite(WebsiteSourceJob):
    """Crawl one web site source and (re)process the pages that changed."""

    event_type: ClassVar[str] = "ingestion.website.crawl.v1"

    max_pages: int | None = None


class PurgeWebsiteSource(WebsiteSourceJob):
    """Remove a deleted web site source's pages, their documents and vectors."""

    event_type: ClassVar[str] = "ingestion.website.purge.v1"


class ReembedAgent(JobData):
    """Embed every chunk of an agent's documents again with its current embedding model."""

    event_type: ClassVar[str] = "ingestion.agent.reembed.v1"

    agent_id: uuid.UUID
    task_id: uuid.UUID | None = None


# --- database export (lane "export", issue 15) ---------------------------------------------


class DatabaseConnectionExportedV1(DatabaseConnectionRef, EventData):
    """Tables of a database connection were exported into documents (one per table, replaced on
    a re-export) and the new or changed ones queued for processing."""

    event_type: ClassVar[str] = "ingestion.database_connection.exported.v1"

    tables_exported: int = 0
    tables_failed: int = 0
    rows_exported: int = 0
    documents_created: int = 0
    documents_replaced: int = 0
    documents_unchanged: int = 0


class ExportDatabaseTables(JobData):
    """Read the chosen tables of a connection and turn each into a document (created or replaced)."""

    event_type: ClassVar[str] = "ingestion.database_connection.export.v1"

    database_connection_id: uuid.UUID
    table_ids: list[uuid.UUID]
    limit_per_table: int | None = None
    task_id: uuid.UUID | None = None


class AnalyzeDatabaseConnections(JobData):
    """Reflect and sample connections' tables and store their metadata (lane "analyze and tables")."""

    event_type: ClassVar[str] = "ingestion.database_connection.analyze.v1"

    connection_ids: list[uuid.UUID]
    # analyse-all: each connection's outcome in the result, never a failed task
    bulk: bool = False
    task_id: uuid.UUID | None = None


# --- lane "dbsearch" (issue 15): statements run on a company's database ----------------------


class DatabaseQueryExecutedV1(DatabaseConnectionRef, EventData):
    """A statement (SQL or a MongoDB pipeline) from a person, a model or a chat tool was run on a
    company's database, or refused; only its SHA-256, never its text (the actor is the envelope's)."""

    event_type: ClassVar[str] = "ingestion.database.query.executed.v1"

    source: str = Field(description="person | model | tool")
    outcome: str = Field(description="ok | refused | failed | timeout")
    error_code: str | None = Field(None, description="why it was refused or failed (`sql_refused`, …)")
    rows: int | None = Field(None, description="rows returned (None unless ok)")
    elapsed_ms: float
    sql_sha256: str = Field(description="SHA-256 of the statement as it was submitted")
