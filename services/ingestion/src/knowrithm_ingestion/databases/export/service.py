"""Export use cases: queue an export of a connection's tables, keep one document per table (created,
replaced or left as it is), and follow the connection's soft delete and restore with its documents.

Services flush, never commit. Vector index changes run after the commit (search hydrates hits
from chunk rows, so a deleted document is hidden as soon as its deletion commits).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import after_commit
from knowrithm_common.errors import Conflict, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
    ExportDatabaseTables,
)
from knowrithm_ingestion.blobs import BlobStore
from knowrithm_ingestion.databases.connections.service import get_connection
from knowrithm_ingestion.databases.export.render import qualified, source_key, source_prefix, summary_prefix
from knowrithm_ingestion.documents import repository as docs
from knowrithm_ingestion.documents.service import queue_processing, reindex_after_commit
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable, Document, DocumentStatus, outbox
from knowrithm_ingestion.tasks import queue_job
from knowrithm_ingestion.vectorstore.base import VectorStore

SOURCE = "database"  # Document.source of exported tables
DOCUMENT_TYPE, CONTENT_TYPE = "md", "text/markdown"
TASK_KIND = "export_database_tables"


class DatabaseTableNotFound(NotFound):
    code, message = "database_table_not_found", "Database table not found"


class NothingToExport(Conflict):
    code = "database_not_analyzed"
    message = "The connection has no analyzed tables to export; analyze it first"


async def chosen_tables(
    session: AsyncSession,
    connection: DatabaseConnection,
    *,
    table_ids: Sequence[uuid.UUID] | None = None,
    table_names: Sequence[str] | None = None,
) -> list[DatabaseTable]:
    """The connection's live tables to export: all of them, or those named (404 for one that is not)."""
    stmt = select(DatabaseTable).where(
        DatabaseTable.connection_id == connection.id, DatabaseTable.not_deleted()
    )
    tables = list(await session.scalars(stmt.order_by(DatabaseTable.schema_name, DatabaseTable.name)))
    chosen = tables
    if table_ids is not None:
        by_id = {t.id: t for t in tables}
        missing = [str(i) for i in table_ids if i not in by_id]
        if missing:
            raise DatabaseTableNotFound(f"Database table not found: {', '.join(missing[:5])}")
        chosen = [by_id[i] for i in dict.fromkeys(table_ids)]
    if table_names is not None:
        names = {n.lower(): n for n in table_names}
        by_name = {t.name.lower(): t for t in tables} | {
            f"{t.schema_name}.{t.name}".lower(): t for t in tables if t.schema_name
        }
        missing = [n for key, n in names.items() if key not in by_name]
        if missing:
            raise DatabaseTableNotFound(f"Database table not found: {', '.join(missing[:5])}")
        named = {by_name[key].id: by_name[key] for key in names}
        chosen = [t for t in chosen if t.id in named] if table_ids is not None else list(named.values())
    if not chosen:
        raise NothingToExport()
    return chosen


async def request_export(
    session: AsyncSession,
    *,
    company_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    table_ids: Sequence[uuid.UUID] | None = None,
    table_names: Sequence[str] | None = None,
    limit_per_table: int | None = None,
    actor: Actor | None = None,
) -> tuple[DatabaseConnection, list[DatabaseTable], uuid.UUID]:
    """Queue the export of a live connection's tables; (connection, tables, task id)."""
    connection = await get_connection(session, company_id, connection_id)
    tables = await chosen_tables(session, connection, table_ids=table_ids, table_names=table_names)
    job = ExportDatabaseTables(
        database_connection_id=connection.id,
        table_ids=[t.id for t in tables],
        limit_per_table=limit_per_table,
    )
    task_id = await queue_job(session, job, kind=TASK_KIND, company_id=connection.company_id, actor=actor)
    return connection, tables, task_id


@dataclass(frozen=True)
class Saved:
    document: Document
    outcome: str  # "created" | "replaced" | "unchanged"


async def save_table_document(
    session: AsyncSession,
    blobs: BlobStore,
    *,
    connection: DatabaseConnection,
    table: DatabaseTable,
    data: bytes,
    actor: Actor | None = None,
    key: str | None = None,
    title: str | None = None,
) -> Saved:
    """Create the table's document, or replace its content and process it again (unchanged content
    of a processed document is left as it is). The caller holds the connection's row lock. `key` and
    `title` name another document of the table (its summary's) than its rows'."""
    key = key or source_key(connection.id, table.schema_name, table.name)
    sha = hashlib.sha256(data).hexdigest()
    title = (title or f"{connection.name}: {qualified(table.schema_name or None, table.name)}")[:255]
    existing = await session.scalar(
        select(Document)
        .where(Document.company_id == connection.company_id, Document.source == SOURCE,
               Document.source_url == key)
        .order_by(Document.created_at)
        .limit(1)
        .with_for_update()
    )
    if existing is not None and _unchanged(existing, sha, connection.agent_id):
        return Saved(existing, "unchanged")
    blob_key = await blobs.put(connection.company_id, data)
    if existing is None:
        document = Document(
            id=uuid.uuid4(), company_id=connection.company_id, agent_id=connection.agent_id, user_id=None,
            original_filename=title, document_type=DOCUMENT_TYPE, content_type=CONTENT_TYPE,
            file_size=len(data), sha256=sha, blob_key=blob_key, source=SOURCE, source_url=key, title=title,
        )
        session.add(document)
        await session.flush()
        await queue_processing(session, document, actor=actor)
        uploaded = DocumentUploadedV1(
            document_id=document.id, agent_id=document.agent_id, original_filename=document.original_filename,
            document_type=document.document_type, file_size=document.file_size, source=document.source,
        )
        await outbox.add(session, uploaded, company_id=document.company_id, actor=actor)
        return Saved(document, "created")
    old_key = existing.blob_key
    existing.blob_key, existing.file_size, existing.sha256 = blob_key, len(data), sha
    existing.title, existing.original_filename, existing.agent_id = title, title, connection.agent_id
    if existing.deleted_at is not None:  # deleted by hand since the last export: the export brings it back
        existing.deleted_at = None
        restored = DocumentRestoredV1(document_id=existing.id, agent_id=existing.agent_id)
        await outbox.add(session, restored, company_id=existing.company_id, actor=actor)
    await queue_processing(session, existing, actor=actor)
    if old_key != blob_key:
        after_commit(session, lambda: blobs.delete(old_key))
    return Saved(existing, "replaced")


def _unchanged(document: Document, sha: str, agent_id: uuid.UUID) -> bool:
    """A live, processed document of this content and agent: nothing to do."""
    return (
        document.sha256 == sha
        and document.deleted_at is None
        and document.status == DocumentStatus.PROCESSED.value
        and document.agent_id == agent_id
    )


async def _exported(
    session: AsyncSession, connection: DatabaseConnection, *, deleted_at: dt.datetime | None
) -> list[Document]:
    prefixes = (source_prefix(connection.id), summary_prefix(connection.id))  # rows' and summaries' documents
    stmt = select(Document).where(
        Document.company_id == connection.company_id,
        Document.source == SOURCE,
        or_(*(Document.source_url.startswith(prefix, autoescape=True) for prefix in prefixes)),
    )
    stmt = stmt.where(Document.not_deleted() if deleted_at is None else Document.deleted_at == deleted_at)
    return list(await session.scalars(stmt.with_for_update()))


async def delete_exported_documents(
    session: AsyncSession,
    connection: DatabaseConnection,
    at: dt.datetime,
    *,
    store: VectorStore | None = None,
    actor: Actor | None = None,
) -> int:
    """Soft-delete the connection's live exported documents and their chunks at `at` (the connection's
    `deleted_at`); their vectors leave the index after commit when `store` is given. How many."""
    documents = await _exported(session, connection, deleted_at=None)
    for document in documents:
        document.deleted_at = at
        deleted = DocumentDeletedV1(document_id=document.id, agent_id=document.agent_id)
        await outbox.add(session, deleted, company_id=document.company_id, actor=actor)
    ids = [d.id for d in documents]
    if ids:
        await docs.soft_delete_chunks(session, ids, at)
        if store is not None:
            owner = connection.company_id
            after_commit(session, lambda: store.delete_documents(owner, ids))
    return len(documents)


async def restore_exported_documents(
    session: AsyncSession,
    connection: DatabaseConnection,
    deleted_at: dt.datetime,
    *,
    store: VectorStore | None = None,
    actor: Actor | None = None,
) -> int:
    """Restore the exported documents deleted with the connection (at `deleted_at`) and their chunks;
    they are indexed again after commit when `store` is given (a document interrupted while it was
    processing is queued again). How many."""
    documents = await _exported(session, connection, deleted_at=deleted_at)
    for document in documents:
        chunks = await docs.restore_chunks(session, document.id, deleted_at=deleted_at)
        document.deleted_at = None
        restored = DocumentRestoredV1(document_id=document.id, agent_id=document.agent_id)
        await outbox.add(session, restored, company_id=document.company_id, actor=actor)
        if document.status in (DocumentStatus.PENDING.value, DocumentStatus.PROCESSING.value):
            await queue_processing(session, document, actor=actor)
        elif store is not None:
            reindex_after_commit(session, store, document.company_id, chunks)
    return len(documents)
