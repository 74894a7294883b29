"""Request and response models of the Documents and Document Chunks API (field names as the
reference API's)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, Field

from knowrithm_common.pagination import Pagination
from knowrithm_common.tasks import status_url
from knowrithm_ingestion.models import Chunk, Document
from knowrithm_ingestion.schemas import RowOut


class ChunkOut(RowOut):
    id: uuid.UUID
    document_id: uuid.UUID
    agent_id: uuid.UUID
    chunk_index: int
    content: str
    page: int | None
    heading: str | None
    word_count: int
    token_count: int
    content_hash: str
    embedding_model: str
    is_active: bool
    created_at: dt.datetime
    deleted_at: dt.datetime | None


class DocumentOut(RowOut):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: uuid.UUID | None
    original_filename: str
    document_type: str
    content_type: str | None
    file_size: int
    source: str
    source_url: str | None
    website_page_id: uuid.UUID | None
    status: str
    processing_error: str | None
    error_code: str | None
    page_count: int | None
    word_count: int | None
    chunk_count: int | None
    ocr_pages: int | None
    title: str | None
    embedding_model: str | None
    task_id: uuid.UUID | None
    status_url: str | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    processed_at: dt.datetime | None
    deleted_at: dt.datetime | None

    @classmethod
    def of(cls, row: Document, **own: Any) -> Self:
        return super().of(row, status_url=status_url(row.task_id) if row.task_id else None, **own)


class DocumentList(BaseModel):
    document: list[DocumentOut] = Field(description="this page of documents (the reference API's key)")
    pagination: Pagination


class DocumentDetail(DocumentOut):
    pass


class UploadOut(BaseModel):
    """Per-file answer: documents accepted for processing and the files refused, with why."""

    success: bool
    status: str = Field(description="accepted | partial | failed")
    message: str
    task_id: uuid.UUID = Field(description="The upload's task: completed once every document is processed "
                                           "or failed, with the documents as its result")
    status_url: str
    documents: list[DocumentOut]
    documents_processed: int = Field(description="how many files were accepted")
    task_ids: list[str] = Field(description="each document's own processing task")
    errors: list[str]
    errors_count: int
    failed: list[FileError]

    @classmethod
    def of(cls, task_id: uuid.UUID, accepted: Sequence[Document], refused: Sequence[FileError]) -> UploadOut:
        return cls(
            success=not refused,
            status="partial" if refused else "accepted",
            message=(f"{len(accepted)} accepted for processing, {len(refused)} refused" if refused
                     else f"{len(accepted)} accepted for processing"),
            task_id=task_id,
            status_url=status_url(task_id),
            documents=[DocumentOut.of(d) for d in accepted],
            documents_processed=len(accepted),
            task_ids=[str(d.task_id) for d in accepted],
            errors=[f"{e.filename}: {e.message}" for e in refused],
            errors_count=len(refused),
            failed=list(refused),
        )


class RetryOut(BaseModel):
    """A failed document queued for processing again, with its new task."""

    document_id: uuid.UUID
    status: str = Field(description="pending: processing starts soon")
    task_id: uuid.UUID
    status_url: str

    @classmethod
    def of(cls, document: Document) -> RetryOut:
        assert document.task_id is not None
        return cls(document_id=document.id, status=document.status, task_id=document.task_id,
                   status_url=status_url(document.task_id))


class UploadResult(BaseModel):
    """The result of an upload's task: its documents once processed (or failed, with the reason)."""

    success: bool = Field(description="every document was processed")
    message: str
    documents: list[DocumentOut]
    documents_processed: int = Field(description="how many documents were processed")
    task_ids: list[str]
    errors: list[str] = Field(description="'<file>: <reason>' for each document that failed")
    errors_count: int


class FileError(BaseModel):
    filename: str
    error: str = Field(description="machine-readable code, e.g. file_too_large")
    message: str
    status_code: int


class UrlsBody(BaseModel):
    agent_id: uuid.UUID
    url: str | None = None
    urls: list[str] = Field(default_factory=list, max_length=20)


class BulkDeleteBody(BaseModel):
    document_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class DeletedDocuments(BaseModel):
    deleted_documents: list[DocumentOut]
    pagination: Pagination


class DeletedChunks(BaseModel):
    deleted_chunks: list[ChunkOut]
    pagination: Pagination


class ChunkList(BaseModel):
    chunks: list[ChunkOut]
    pagination: Pagination


class DocumentDeleted(BaseModel):
    message: str
    document_id: uuid.UUID
    deleted_chunks_count: int


class DocumentsDeleted(BaseModel):
    message: str
    deleted_documents_count: int
    deleted_chunks_count: int


class DocumentRestored(BaseModel):
    message: str
    document_id: uuid.UUID
    filename: str
    restored_chunks_count: int


class ChunkChanged(BaseModel):
    message: str
    chunk_id: uuid.UUID
    chunk_index: int

    @classmethod
    def of(cls, message: str, chunk: Chunk) -> ChunkChanged:
        return cls(message=message, chunk_id=chunk.id, chunk_index=chunk.chunk_index)


class ChunksRestored(BaseModel):
    message: str
    document_id: uuid.UUID
    restored_chunks_count: int


UploadOut.model_rebuild()


class ChunkDetail(ChunkOut):
    """One chunk with its document's name and its position (1-based) in the document."""

    document_name: str
    position: int = Field(description="chunk_index + 1")
    deleted: bool

    @classmethod
    def of_chunk(cls, chunk: Chunk, document: Document) -> ChunkDetail:
        return cls.of(chunk, document_name=document.original_filename, position=chunk.chunk_index + 1,
                      deleted=chunk.deleted_at is not None)


class HistoryEvent(BaseModel):
    """One stage transition of a document's processing."""

    stage: str = Field(description="received, retry, reprocess, processing, extracting, chunking, embedding, "
                                   "indexing, processed")
    status: str = Field(description="queued, started, completed, retrying, failed, dead_lettered")
    at: dt.datetime
    duration_ms: int | None = Field(None, description="How long the stage (for processed: the run) took")
    attempt: int = Field(description="The processing run: 1 for the upload, +1 for each retry or reprocess")
    delivery: int | None = Field(None, description="The job's delivery within the run (redeliveries)")
    reason: str | None = Field(None, description="Why it failed, in words (for dead_lettered: the error)")
    code: str | None = None
    detail: str | None = Field(None, description="e.g. pages and OCR pages, chunks, embedding model")


class HistoryOut(BaseModel):
    """A document's processing history, oldest transition first."""

    document_id: uuid.UUID
    status: str
    attempts: int
    recorded: bool = Field(description="false: processed before histories were kept; told from the document")
    events: list[HistoryEvent]
