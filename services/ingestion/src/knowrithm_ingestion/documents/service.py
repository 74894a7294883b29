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
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.db.session import after_commit
from knowrithm_common.errors import BadRequest, Conflict, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
    ProcessDocument,
)
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_common.queries import AgentsOwner
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.blobs import BlobNotFound, BlobStore
from knowrithm_ingestion.documents import history
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.documents.history import Stage, StageStatus
from knowrithm_ingestion.models import (
    Chunk,
    Document,
    DocumentEvent,
    DocumentSource,
    DocumentStatus,
    WebsitePage,
    outbox,
)
from knowrithm_ingestion.tasks import queue_job
from knowrithm_ingestion.vectorstore.base import VectorRecord, VectorStore

T = TypeVar("T")


class DocumentNotFound(NotFound):
    code, message = "document_not_found", "Document not found"


class ChunkNotFound(NotFound):
    code, message = "chunk_not_found", "Document chunk not found"


class ParentDocumentDeleted(BadRequest):
    code, message = "document_deleted", "Cannot restore the chunk: its document is deleted; restore it first"


class DocumentNotFailed(Conflict):
    code, message = "document_not_failed", "Only a failed document can be retried"


class DocumentBusy(Conflict):
    code, message = "document_processing", "The document is being processed; wait until it is done"


class DocumentFileMissing(Conflict):
    code, message = "document_file_missing", "The document's file is no longer stored; upload it again"


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What a document records of its file besides the bytes (the name is only a label)."""

    filename: str
    document_type: str
    content_type: str | None
    source: DocumentSource = DocumentSource.UPLOAD
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class NewFile:
    """A validated file about to become a document."""

    data: bytes
    info: FileInfo


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A validated file whose bytes are in the blob store."""

    blob_key: str
    size: int
    sha256: str
    info: FileInfo


async def store_file(blobs: BlobStore, company_id: uuid.UUID, file: NewFile) -> StoredFile:
    """Put the file's bytes in the blob store (no database involved)."""
    key = await blobs.put(company_id, file.data)
    return StoredFile(blob_key=key, size=len(file.data), sha256=hashlib.sha256(file.data).hexdigest(),
                      info=file.info)


def chunk_id(document_id: uuid.UUID, index: int) -> uuid.UUID:
    """Deterministic: processing a document again yields the same chunk ids."""
    return uuid.uuid5(document_id, f"chunk:{index}")


async def queue_processing(
    session: AsyncSession, document: Document, *, actor: Actor | None = None, stage: Stage = Stage.RECEIVED,
    reason: str | None = None,
) -> uuid.UUID:
    """Create the document's task and queue its ProcessDocument job, a new processing run recorded in
    its history (all land with the commit)."""
    job = ProcessDocument(document_id=document.id)
    document.task_id = await queue_job(session, job, kind="process_document", company_id=document.company_id,
                                       actor=actor)
    document.status = DocumentStatus.PENDING.value
    document.processing_error = document.error_code = None
    document.attempts = (document.attempts or 0) + 1
    history.record(session, document, stage=stage, status=StageStatus.QUEUED, reason=reason)
    return document.task_id


async def create_document(
    session: AsyncSession, *, company_id: uuid.UUID, agent_id: uuid.UUID, user_id: uuid.UUID | None,
    stored: StoredFile, actor: Actor | None = None, website_page_id: uuid.UUID | None = None,
    upload_task_id: uuid.UUID | None = None,
) -> Document:
    """Add the stored file's document (pending) and queue its processing."""
    file = stored.info
    document = Document(
        id=uuid.uuid4(), company_id=company_id, agent_id=agent_id, user_id=user_id,
        original_filename=file.filename[:255], document_type=file.document_type,
        content_type=file.content_type, file_size=stored.size, sha256=stored.sha256, blob_key=stored.blob_key,
        source=file.source.value, source_url=file.source_url, website_page_id=website_page_id,
        upload_task_id=upload_task_id, attempts=0,
    )
    session.add(document)
    await session.flush()
    await queue_processing(session, document, actor=actor)
    uploaded = DocumentUploadedV1(
        document_id=document.id, agent_id=agent_id, original_filename=document.original_filename,
        document_type=document.document_type, file_size=document.file_size, source=document.source,
    )
    await outbox.add(session, uploaded, company_id=company_id, actor=actor)
    return document


async def store_page_document(
    session: AsyncSession, *, blobs: BlobStore, page: WebsitePage, html: bytes, title: str | None
) -> Document:
    """Create the crawled page's document, or replace its content; queue its processing."""
    existing = None
    if page.document_id is not None:
        existing = await repo.get_document(session, page.document_id, page.company_id, deleted=None)
    file = NewFile(html, FileInfo(filename=(title or page.canonical_url)[:255], document_type="html",
                                  content_type="text/html", source=DocumentSource.WEBSITE,
                                  source_url=page.canonical_url))
    stored = await store_file(blobs, page.company_id, file)
    if existing is None:
        document = await create_document(session, company_id=page.company_id, agent_id=page.agent_id,
                                         user_id=None, stored=stored, website_page_id=page.id)
        page.document_id = document.id
        return document
    old_key = existing.blob_key
    existing.blob_key, existing.file_size, existing.sha256 = stored.blob_key, stored.size, stored.sha256
    existing.title, existing.deleted_at = title, None
    await queue_processing(session, existing, stage=Stage.REPROCESS, reason="The page changed on the site")
    after_commit(session, lambda: blobs.delete(old_key))
    return existing


async def get_document(
    session: AsyncSession, document_id: uuid.UUID, company_id: uuid.UUID | None, *,
    deleted: bool = False, missing: str | None = None, lock: bool = False,
) -> Document:
    """A live (or soft-deleted) document of the company; 404 `missing` otherwise."""
    document = await repo.get_document(session, document_id, company_id, deleted=deleted, lock=lock)
    return _found(document, DocumentNotFound, missing)


def _found(row: T | None, error: type[NotFound], missing: str | None) -> T:
    if row is None:
        raise error(missing)
    return row


async def agent_documents(
    session: AsyncSession, agents: AgentsOwner, page: PageParams, *, agent_id: uuid.UUID,
    company_id: uuid.UUID | None, status: str | None,
) -> tuple[Sequence[Document], Pagination]:
    """One page of an agent's documents; 404 for an unknown agent."""
    agent = await get_agent(session, company_id=company_id, agent_id=agent_id, owner=agents)
    return await repo.list_documents(session, agent.company_id, page, agent_id=agent.agent_id, status=status)


async def document_chunks(
    session: AsyncSession, page: PageParams, *, document_id: uuid.UUID, company_id: uuid.UUID | None
) -> tuple[Sequence[Chunk], Pagination]:
    """One page of a live document's live chunks, in order."""
    document = await get_document(session, document_id, company_id)
    return await repo.list_chunks(session, document.company_id, page, document_id=document.id)


async def delete_documents(
    session: AsyncSession, store: VectorStore, document_ids: Sequence[uuid.UUID], *,
    company_id: uuid.UUID | None, actor: Actor | None, missing: str | None = None,
) -> tuple[int, int]:
    """Soft-delete the company's live documents among `document_ids` with their chunks (404 `missing`
    when there is none); their vectors leave the index after commit. (documents, chunks) deleted."""
    found = [d for i in dict.fromkeys(document_ids)
             if (d := await repo.get_document(session, i, company_id)) is not None]
    if not found:
        raise DocumentNotFound(missing)
    now = utcnow()
    for document in found:
        document.deleted_at = now
        deleted = DocumentDeletedV1(document_id=document.id, agent_id=document.agent_id)
        await outbox.add(session, deleted, company_id=document.company_id, actor=actor)
    chunk_ids = await repo.soft_delete_chunks(session, [d.id for d in found], now)
    by_company: dict[uuid.UUID, list[uuid.UUID]] = {}
    for document in found:
        by_company.setdefault(document.company_id, []).append(document.id)
    for owner, ids in by_company.items():
        after_commit(session, _deleter(store, owner, ids))
    return len(found), len(chunk_ids)


def _deleter(
    store: VectorStore, company_id: uuid.UUID, document_ids: list[uuid.UUID]
) -> Callable[[], Awaitable[None]]:
    return lambda: store.delete_documents(company_id, document_ids)


async def restore_document(
    session: AsyncSession, store: VectorStore, agents: AgentsOwner, *, document_id: uuid.UUID,
    company_id: uuid.UUID | None, actor: Actor | None,
) -> tuple[Document, int]:
    """Restore a soft-deleted document of a live agent with the chunks deleted with it; they are indexed
    again after commit. (document, chunks restored)."""
    document = await get_document(session, document_id, company_id, deleted=True,
                                  missing="Deleted document not found")
    await get_agent(session, company_id=document.company_id, agent_id=document.agent_id, owner=agents)
    chunks = await repo.restore_chunks(session, document.id, deleted_at=document.deleted_at)
    document.deleted_at = None
    restored = DocumentRestoredV1(document_id=document.id, agent_id=document.agent_id)
    await outbox.add(session, restored, company_id=document.company_id, actor=actor)
    if document.status in (DocumentStatus.PENDING.value, DocumentStatus.PROCESSING.value):
        # it was interrupted by the deletion
        await queue_processing(session, document, actor=actor, stage=Stage.REPROCESS,
                               reason="Restored while it was being processed")
    else:
        reindex_after_commit(session, store, document.company_id, chunks)
    return document, len(chunks)


async def retry_document(
    session: AsyncSession, blobs: BlobStore, *, document_id: uuid.UUID, company_id: uuid.UUID | None,
    actor: Actor | None,
) -> Document:
    """Process a failed document again from its stored file: pending, error cleared, a new task and
    ProcessDocument job (with the request's commit). 409 when it is not failed or its file is gone."""
    document = await get_document(session, document_id, company_id)
    if document.status != DocumentStatus.FAILED.value:
        raise DocumentNotFailed(f"Only a failed document can be retried; this one is {document.status}")
    await _still_stored(blobs, document)
    await queue_processing(session, document, actor=actor, stage=Stage.RETRY)
    return document


async def reprocess_document(
    session: AsyncSession, blobs: BlobStore, *, document_id: uuid.UUID, company_id: uuid.UUID | None,
    actor: Actor | None,
) -> Document:
    """Process a processed or failed document again from its stored file (a new run and task). Its chunks
    are replaced when the run succeeds; until then (and if it fails) the old ones keep answering.
    409 while it is pending or processing, or when its file is gone."""
    document = await get_document(session, document_id, company_id, lock=True)
    if document.status not in (DocumentStatus.PROCESSED.value, DocumentStatus.FAILED.value):
        raise DocumentBusy()
    await _still_stored(blobs, document)
    await queue_processing(session, document, actor=actor, stage=Stage.REPROCESS)
    return document


async def _still_stored(blobs: BlobStore, document: Document) -> None:
    try:
        await blobs.get(document.blob_key)
    except BlobNotFound as exc:
        raise DocumentFileMissing() from exc


async def document_history(
    session: AsyncSession, *, document_id: uuid.UUID, company_id: uuid.UUID | None
) -> tuple[Document, Sequence[DocumentEvent], bool]:
    """A live document, its recorded transitions (or, if none were recorded, what its row tells) and
    whether they were recorded."""
    document = await get_document(session, document_id, company_id)
    events = await history.events_of(session, document)
    if events:
        return document, events, True
    return document, history.from_row(document), False


async def get_chunk(
    session: AsyncSession, *, chunk_id: uuid.UUID, company_id: uuid.UUID | None
) -> tuple[Chunk, Document]:
    """One chunk of the company (live or soft-deleted) with its document (404 when the document is gone)."""
    chunk = _found(await repo.get_chunk(session, chunk_id, company_id, deleted=None), ChunkNotFound, None)
    document = await repo.get_document(session, chunk.document_id, chunk.company_id, deleted=None)
    return chunk, _found(document, ChunkNotFound, None)


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


async def delete_chunk(
    session: AsyncSession, store: VectorStore, *, chunk_id: uuid.UUID, company_id: uuid.UUID | None
) -> Chunk:
    """Soft-delete one live chunk of the company; it leaves the index after commit."""
    chunk = _found(await repo.get_chunk(session, chunk_id, company_id, deleted=False), ChunkNotFound,
                   "Document chunk not found or already deleted")
    chunk.deleted_at = utcnow()
    owner, ids = chunk.company_id, [chunk.id]
    after_commit(session, lambda: store.delete_ids(owner, ids))
    return chunk


async def restore_chunk(
    session: AsyncSession, store: VectorStore, *, chunk_id: uuid.UUID, company_id: uuid.UUID | None
) -> Chunk:
    """Restore one soft-deleted chunk of a live document (400 while its document is deleted)."""
    chunk = _found(await repo.get_chunk(session, chunk_id, company_id, deleted=True), ChunkNotFound,
                   "Deleted document chunk not found")
    if await repo.get_document(session, chunk.document_id, chunk.company_id, deleted=False) is None:
        raise ParentDocumentDeleted()
    chunk.deleted_at = None
    reindex_after_commit(session, store, chunk.company_id, [chunk])
    return chunk


async def delete_document_chunks(
    session: AsyncSession, store: VectorStore, *, document_id: uuid.UUID, company_id: uuid.UUID | None
) -> int:
    """Soft-delete all of a live document's chunks (the document stays); how many."""
    document = await get_document(session, document_id, company_id)
    ids = await repo.soft_delete_chunks(session, [document.id], utcnow())
    owner = document.company_id
    if ids:
        after_commit(session, lambda: store.delete_ids(owner, ids))
    return len(ids)


async def restore_document_chunks(
    session: AsyncSession, store: VectorStore, *, document_id: uuid.UUID, company_id: uuid.UUID | None
) -> int:
    """Restore every soft-deleted chunk of a live document; how many."""
    document = await get_document(session, document_id, company_id, missing="Active document not found")
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
