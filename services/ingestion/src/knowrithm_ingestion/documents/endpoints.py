"""HTTP API of documents and their chunks: upload (files or URLs), lists, soft delete and
restore, bulk delete, deleted lists.

Members read their company's documents (API keys need `read`); admins upload and delete (keys
need write / delete). Another company's ids answer 404. An upload answers 202 with one task
per accepted file (`/api/v1/tasks/{id}/status` shows stage and percent), 207 when some files
were refused, and the refusal's status (413, 415, 400) when all were.
"""

from __future__ import annotations

import uuid
from enum import Enum

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.tenancy import CompanyDelete, CompanyRead, CompanyUpdate, CompanyWrite
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.documents import service, upload
from knowrithm_ingestion.documents.schemas import (
    BulkDeleteBody,
    ChunkChanged,
    ChunkDetail,
    ChunkList,
    ChunkOut,
    ChunksRestored,
    DeletedChunks,
    DeletedDocuments,
    DocumentDeleted,
    DocumentList,
    DocumentOut,
    DocumentRestored,
    DocumentsDeleted,
    HistoryEvent,
    HistoryOut,
    RetryOut,
    UploadOut,
)
from knowrithm_ingestion.models import DocumentStatus
from knowrithm_ingestion.pipeline.deps import Dependencies

router = APIRouter()
DOCS: list[str | Enum] = ["Documents"]
CHUNKS: list[str | Enum] = ["Document Chunks"]

UPLOAD_ERRORS = errors(
    404, 422,
    (413, "Larger than GATEWAY_MAX_BODY_BYTES, or every file larger than MAX_FILE_SIZE"),
    (415, "Neither multipart nor JSON, or every file of an unsupported type"),
)


@router.post("/api/v1/document/upload", status_code=202, response_model=UploadOut, tags=DOCS,
             openapi_extra=upload.OPENAPI_BODY,
             responses={207: {"model": UploadOut, "description": "some files were refused"},
                        **UPLOAD_ERRORS})
async def upload_documents(
    request: Request, session: Session, subject: CompanyWrite, deps: Dependencies
) -> JSONResponse:
    """Upload files (multipart `files`/`file`) or URLs (`url`, `urls`) for an agent (processed later)."""
    parsed = await upload.read_request(request, deps.settings)
    accepted = await upload.accept(session, deps, subject=subject, request=parsed)
    body = UploadOut.of(accepted.task_id, accepted.documents, accepted.refused)
    return JSONResponse(body.model_dump(mode="json"), status_code=207 if accepted.refused else 202)


@router.get("/api/v1/document", response_model=DocumentList, tags=DOCS)
async def list_documents(
    session: Session, subject: CompanyRead, page: Page,
    agent_id: uuid.UUID | None = Query(None, description="Only this agent's documents"),
    status: DocumentStatus | None = Query(None, description="pending | processing | processed | failed"),
    document_type: str | None = Query(None, max_length=20, description="pdf, docx, txt, csv, ..."),
    search: str | None = Query(None, max_length=200, description="Part of the file name"),
) -> DocumentList:
    """The company's documents, newest first, with processing status."""
    rows, pagination = await repo.list_documents(
        session, subject.company_id, page, agent_id=agent_id, status=status.value if status else None,
        document_type=document_type, search=search,
    )
    return DocumentList(document=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/agent/{agent_id}", response_model=DocumentList, tags=DOCS)
async def list_agent_documents(
    agent_id: uuid.UUID, session: Session, subject: CompanyRead, page: Page, deps: Dependencies,
    status: DocumentStatus | None = Query(None),
) -> DocumentList:
    """One agent's documents (404 for an agent of another company)."""
    rows, pagination = await service.agent_documents(
        session, deps.agents, page, agent_id=agent_id, company_id=subject.company_id,
        status=status.value if status else None,
    )
    return DocumentList(document=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/deleted", response_model=DeletedDocuments, tags=DOCS)
async def deleted_documents(session: Session, subject: CompanyRead, page: Page) -> DeletedDocuments:
    """Soft-deleted documents of the company (restorable)."""
    rows, pagination = await repo.list_documents(session, subject.company_id, page, deleted=True)
    return DeletedDocuments(deleted_documents=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/chunk/deleted", response_model=DeletedChunks, tags=CHUNKS)
async def deleted_chunks(session: Session, subject: CompanyRead, page: Page) -> DeletedChunks:
    """Soft-deleted chunks of the company (restorable)."""
    rows, pagination = await repo.list_chunks(session, subject.company_id, page, deleted=True)
    return DeletedChunks(deleted_chunks=[ChunkOut.of(c) for c in rows], pagination=pagination)


@router.get("/api/v1/document/chunk/{chunk_id}", response_model=ChunkDetail, tags=CHUNKS,
            responses=errors(404))
async def get_chunk(chunk_id: uuid.UUID, session: Session, subject: CompanyRead) -> ChunkDetail:
    """One chunk (live or deleted) with its text, page, position and document name."""
    chunk, document = await service.get_chunk(session, chunk_id=chunk_id, company_id=subject.company_id)
    return ChunkDetail.of_chunk(chunk, document)


@router.delete("/api/v1/document/bulk-delete", response_model=DocumentsDeleted, tags=DOCS,
               responses=errors(404))
async def bulk_delete(
    body: BulkDeleteBody, session: Session, subject: CompanyDelete, deps: Dependencies
) -> DocumentsDeleted:
    """Soft-delete several documents with their chunks and vectors."""
    documents, chunks = await service.delete_documents(
        session, deps.store, body.document_ids, company_id=subject.company_id, actor=subject.actor,
        missing="No active documents found to delete",
    )
    return DocumentsDeleted(message=f"{documents} documents deleted", deleted_documents_count=documents,
                            deleted_chunks_count=chunks)


@router.get("/api/v1/document/{document_id}", response_model=DocumentOut, tags=DOCS)
async def get_document(document_id: uuid.UUID, session: Session, subject: CompanyRead) -> DocumentOut:
    """One document with its processing status, page, word and chunk counts."""
    return DocumentOut.of(await service.get_document(session, document_id, subject.company_id))


@router.get("/api/v1/document/{document_id}/chunk", response_model=ChunkList, tags=CHUNKS)
async def list_chunks(
    document_id: uuid.UUID, session: Session, subject: CompanyRead, page: Page
) -> ChunkList:
    """A document's live chunks in order, with page numbers."""
    rows, pagination = await service.document_chunks(
        session, page, document_id=document_id, company_id=subject.company_id
    )
    return ChunkList(chunks=[ChunkOut.of(c) for c in rows], pagination=pagination)


@router.delete("/api/v1/document/{document_id}", response_model=DocumentDeleted, tags=DOCS)
async def delete_document(
    document_id: uuid.UUID, session: Session, subject: CompanyDelete, deps: Dependencies
) -> DocumentDeleted:
    """Soft-delete a document with its chunks; its vectors leave the index."""
    _, chunks = await service.delete_documents(
        session, deps.store, [document_id], company_id=subject.company_id, actor=subject.actor
    )
    return DocumentDeleted(message="Document deleted", document_id=document_id, deleted_chunks_count=chunks)


@router.patch("/api/v1/document/{document_id}/restore", response_model=DocumentRestored, tags=DOCS)
async def restore_document(
    document_id: uuid.UUID, session: Session, subject: CompanyUpdate, deps: Dependencies
) -> DocumentRestored:
    """Restore a soft-deleted document with the chunks deleted with it; they are searchable again."""
    document, chunks = await service.restore_document(
        session, deps.store, deps.agents, document_id=document_id, company_id=subject.company_id,
        actor=subject.actor,
    )
    return DocumentRestored(message="Document restored", document_id=document.id,
                            filename=document.original_filename, restored_chunks_count=chunks)


@router.post("/api/v1/document/{document_id}/retry", status_code=202, response_model=RetryOut, tags=DOCS,
             responses=errors(404, (409, "The document is not failed, or its file is no longer stored")))
async def retry_document(
    document_id: uuid.UUID, session: Session, subject: CompanyWrite, deps: Dependencies
) -> RetryOut:
    """Process a failed document again from its stored file (a new task follows it)."""
    document = await service.retry_document(
        session, deps.blobs, document_id=document_id, company_id=subject.company_id, actor=subject.actor
    )
    return RetryOut.of(document)


@router.post("/api/v1/document/{document_id}/reprocess", status_code=202, response_model=RetryOut, tags=DOCS,
             responses=errors(404, (409, "The document is pending or processing, or its file is gone")))
async def reprocess_document(
    document_id: uuid.UUID, session: Session, subject: CompanyWrite, deps: Dependencies
) -> RetryOut:
    """Process a processed or failed document again; its chunks are replaced when the new run succeeds."""
    document = await service.reprocess_document(
        session, deps.blobs, document_id=document_id, company_id=subject.company_id, actor=subject.actor
    )
    return RetryOut.of(document)


@router.get("/api/v1/document/{document_id}/history", response_model=HistoryOut, tags=DOCS,
            responses=errors(404))
async def document_history(document_id: uuid.UUID, session: Session, subject: CompanyRead) -> HistoryOut:
    """A document's processing history: each stage with time, attempt, duration and failure reasons."""
    document, events, recorded = await service.document_history(
        session, document_id=document_id, company_id=subject.company_id
    )
    return HistoryOut(document_id=document.id, status=document.status, attempts=max(document.attempts, 1),
                      recorded=recorded, events=[HistoryEvent.model_validate(e, from_attributes=True)
                                                 for e in events])


@router.delete("/api/v1/document/{document_id}/chunk", response_model=DocumentDeleted, tags=CHUNKS)
async def delete_all_chunks(
    document_id: uuid.UUID, session: Session, subject: CompanyDelete, deps: Dependencies
) -> DocumentDeleted:
    """Soft-delete all chunks of a document (the document stays)."""
    count = await service.delete_document_chunks(
        session, deps.store, document_id=document_id, company_id=subject.company_id
    )
    return DocumentDeleted(message="Document chunks deleted", document_id=document_id,
                           deleted_chunks_count=count)


@router.patch("/api/v1/document/{document_id}/chunk/restore-all", response_model=ChunksRestored, tags=CHUNKS)
async def restore_all_chunks(
    document_id: uuid.UUID, session: Session, subject: CompanyUpdate, deps: Dependencies
) -> ChunksRestored:
    """Restore every soft-deleted chunk of a live document."""
    count = await service.restore_document_chunks(
        session, deps.store, document_id=document_id, company_id=subject.company_id
    )
    return ChunksRestored(message="Document chunks restored", document_id=document_id,
                          restored_chunks_count=count)


@router.delete("/api/v1/document/chunk/{chunk_id}", response_model=ChunkChanged, tags=CHUNKS)
async def delete_chunk(
    chunk_id: uuid.UUID, session: Session, subject: CompanyDelete, deps: Dependencies
) -> ChunkChanged:
    """Soft-delete one chunk; it leaves the index."""
    chunk = await service.delete_chunk(session, deps.store, chunk_id=chunk_id, company_id=subject.company_id)
    return ChunkChanged.of("Document chunk deleted", chunk)


@router.patch("/api/v1/document/chunk/{chunk_id}/restore", response_model=ChunkChanged, tags=CHUNKS)
async def restore_chunk(
    chunk_id: uuid.UUID, session: Session, subject: CompanyUpdate, deps: Dependencies
) -> ChunkChanged:
    """Restore one chunk (400 while its document is deleted)."""
    chunk = await service.restore_chunk(session, deps.store, chunk_id=chunk_id, company_id=subject.company_id)
    return ChunkChanged.of("Document chunk restored", chunk)
