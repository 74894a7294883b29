"""Document use cases: accept files and URLs, soft delete and restore documents and chunks
(keeping the vector index in step after commit), and the helpers web site crawls use.

Services flush, never commit (the request's session is the commit point). Vector index
changes run after the commit; search hydrates hits from the chunk rows, so a document is
hidden the moment its deletion commits even if the index lags.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.db.session import after_commit
from knowrithm_common.errors import BadRequest, NotFound
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
    ProcessDocument,
)
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.tasks import create_task
from knowrithm_ingestion.blobs import BlobStore
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.models import Chunk, Document, DocumentSource, DocumentStatus, WebsitePage, shared
from knowrithm_ingestion.vectorstore.base import VectorRecord, VectorStore

SOURCE = "ingestion"


class DocumentNotFound(NotFound):
    code, message = "document_not_found", "Document not found"


class ChunkNotFound(NotFound):
    code, message = "chunk_not_found", "Document chunk not found"


class ParentDocumentDeleted(BadRequest):
    code, message = "document_deleted", "Cannot restore the chunk: its document is deleted; restore it first"


@dataclass(frozen=True, slots=True)
class NewFile:
    """A validated file about to become a document."""

    data: bytes
    filename: str
    document_type: str
    content_type: str | None
    source: DocumentSource = DocumentSource.UPLOAD
    source_url: str | None = None


def chunk_id(document_id: uuid.UUID, index: int) -> uuid.UUID:
    """Deterministic: processing a document again yields the same chunk ids."""
    return uuid.uuid5(document_id, f"chunk:{index}")


async def queue_processing(
    session: AsyncSession, document: Document, *, actor: Actor | None = None
) -> uuid.UUID:
    """Create the document's task and queue its ProcessDocument job (both land with the commit)."""
    task_id = await create_task(
        session, shared.tasks, company_id=document.company_id, kind="process_document"
    )
    document.task_id = task_id
    document.status = DocumentStatus.PENDING.value
    document.processing_error = document.error_code = None
    job = new_event(
        ProcessDocument(document_id=document.id, task_id=task_id),
        source=SOURCE, company_id=document.company_id, actor=actor,
    )
    await record_event(session, shared.outbox, job, subject=ProcessDocument.subject())
    return task_id


async def create_document(
    session: AsyncSession, blobs: BlobStore, *, company_id: uuid.UUID, agent_id: uuid.UUID,
    user_id: uuid.UUID | None, file: NewFile, actor: Actor | None = None,
    website_page_id: uuid.UUID | None = None, upload_task_id: uuid.UUID | None = None,
) -> Document:
    """Store the file, add its document (pending) and queue its processing."""
    key = await blobs.put(company_id, file.data)
    document = Document(
        id=uuid.uuid4(), company_id=company_id, agent_id=agent_id, user_id=user_id,
        original_filename=file.filename[:255], document_type=file.document_type,
        content_type=file.content_type, file_size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(), blob_key=key, source=file.source.value,
        source_url=file.source_url, website_page_id=website_page_id, upload_task_id=upload_task_id,
    )
    session.add(document)
    await session.flush()
    await queue_processing(session, document, actor=actor)
    uploaded = DocumentUploadedV1(
        document_id=document.id, agent_id=agent_id, original_filename=document.original_filename,
        document_type=document.document_type, file_size=document.file_size, source=document.source,
    )
    await record_event(session, shared.outbox, new_event(uploaded, source=SOURCE, company_id=company_id,
                                                           actor=actor))
    return document


async def store_page_document(
    session: AsyncSession, *, blobs: BlobStore, page: WebsitePage, html: bytes, title: str | None
) -> Document:
    """Create the crawled page's document, or replace its content; queue its processing."""
    existing = None
    if page.document_id is not None:
        existing = await repo.get_document(session, page.document_id, page.company_id, deleted=None)
    if existing is None:
        file = NewFile(data=html, filename=(title or page.canonical_url)[:255], document_type="html",
                       content_type="text/html", source=DocumentSource.WEBSITE, source_url=page.canonical_url)
        document = await create_document(session, blobs, company_id=page.company_id, agent_id=page.agent_id,
                                         user_id=None, file=file, website_page_id=page.id)
        page.document_id = document.id
        return document
    old_key = existing.blob_key
    existing.blob_key = await blobs.put(page.company_id, html)
    existing.file_size, existing.sha256 = len(html), hashlib.sha256(html).hexdigest()
    existing.title, existing.deleted_at = title, None
    await queue_processing(session, existing)
    after_commit(session, lambda: blobs.delete(old_key))
    return existing


async def soft_delete(
    session: AsyncSession, store: VectorStore, documents: Sequence[Document], *, actor: Actor | None
) -> int:
    """Soft-delete documents and their chunks; drop their vectors after commit. Chunks deleted."""
    now = utcnow()
    for document in documents:
        document.deleted_at = now
    ids = [d.id for d in documents]
    chunk_ids = await repo.soft_delete_chunks(session, ids, now)
    for document in documents:
        event = DocumentDeletedV1(document_id=document.id, agent_id=document.agent_id)
        await record_event(session, shared.outbox,
                           new_event(event, source=SOURCE, company_id=document.company_id, actor=actor))
    by_company: dict[uuid.UUID, list[uuid.UUID]] = {}
    for document in documents:
        by_company.setdefault(document.company_id, []).append(document.id)
    for company_id, doc_ids in by_company.items():
        after_commit(session, _deleter(store, company_id, doc_ids))
    return len(chunk_ids)


def _deleter(
    store: VectorStore, company_id: uuid.UUID, document_ids: list[uuid.UUID]
) -> Callable[[], Awaitable[None]]:
    return lambda: store.delete_documents(company_id, document_ids)


async def restore(
    session: AsyncSession, store: VectorStore, document: Document, *, actor: Actor | None
) -> int:
    """Restore a document with the chunks deleted with it; index them again after commit."""
    chunks = await repo.restore_chunks(session, document.id, deleted_at=document.deleted_at)
    document.deleted_at = None
    event = DocumentRestoredV1(document_id=document.id, agent_id=document.agent_id)
    await record_event(session, shared.outbox,
                       new_event(event, source=SOURCE, company_id=document.company_id, actor=actor))
    if document.status in (DocumentStatus.PENDING.value, DocumentStatus.PROCESSING.value):
        await queue_processing(session, document, actor=actor)  # it was interrupted by the deletion
    else:
        reindex_after_commit(session, store, document.company_id, chunks)
    return len(chunks)


def records_of(chunks: Sequence[Chunk]) -> list[VectorRecord]:
    return [
        VectorRecord(
            id=c.id, company_id=c.company_id, agent_id=c.agent_id, document_id=c.document_id,
            chunk_index=c.chunk_index, page=c.page, content=c.content, model=c.embedding_model,
            vector=c.embedding,
        )
        for c in chunks
    ]


def reindex_after_commit(
    session: AsyncSession, store: VectorStore, company_id: uuid.UUID, chunks: Sequence[Chunk]
) -> None:
    """Put these chunks back in the vector index once the transaction commits."""
    records = records_of(chunks)
    if records:
        after_commit(session, lambda: store.upsert(company_id, records))


async def delete_chunk(session: AsyncSession, store: VectorStore, chunk: Chunk) -> None:
    chunk.deleted_at = utcnow()
    company_id, ids = chunk.company_id, [chunk.id]
    after_commit(session, lambda: store.delete_ids(company_id, ids))


async def restore_chunk(session: AsyncSession, store: VectorStore, chunk: Chunk) -> None:
    parent = await repo.get_document(session, chunk.document_id, chunk.company_id, deleted=False)
    if parent is None:
        raise ParentDocumentDeleted()
    chunk.deleted_at = None
    reindex_after_commit(session, store, chunk.company_id, [chunk])


async def delete_document_chunks(session: AsyncSession, store: VectorStore, document: Document) -> int:
    """Soft-delete all of a live document's chunks (the document stays)."""
    ids = await repo.soft_delete_chunks(session, [document.id], utcnow())
    company_id = document.company_id
    if ids:
        after_commit(session, lambda: store.delete_ids(company_id, ids))
    return len(ids)


async def restore_document_chunks(session: AsyncSession, store: VectorStore, document: Document) -> int:
    chunks = await repo.restore_chunks(session, document.id)
    reindex_after_commit(session, store, document.company_id, chunks)
    return len(chunks)


async def purge_documents(
    session: AsyncSession, *, store: VectorStore, blobs: BlobStore, company_id: uuid.UUID,
    document_ids: Sequence[uuid.UUID],
) -> int:
    """Delete documents for good: rows, chunks (cascade), vectors and blobs. How many went."""
    if not document_ids:
        return 0
    keys = list(await session.scalars(
        select(Document.blob_key).where(Document.company_id == company_id, Document.id.in_(document_ids))
    ))
    await session.execute(
        delete(Document).where(Document.company_id == company_id, Document.id.in_(document_ids))
    )
    ids = list(document_ids)

    async def cleanup() -> None:
        await store.delete_documents(company_id, ids)
        for key in keys:
            await blobs.delete(key)

    after_commit(session, cleanup)
    return len(keys)
