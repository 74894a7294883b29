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
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, page_params, paginate
from knowrithm_common.tenancy import actor_of, readers, scope_of, writers
from knowrithm_ingestion.agents_view import get_agent
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.documents import service, upload, upload_task
from knowrithm_ingestion.documents.schemas import (
    BulkDeleteBody,
    ChunkChanged,
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
    FileError,
    UploadOut,
)
from knowrithm_ingestion.models import Document, DocumentStatus
from knowrithm_ingestion.pipeline.deps import Deps, get_deps

router = APIRouter()
DOCS: list[str | Enum] = ["Documents"]
CHUNKS: list[str | Enum] = ["Document Chunks"]
Caller = Annotated[Principal, Depends(authenticated)]
Dependencies = Annotated[Deps, Depends(get_deps)]
Page = Annotated[PageParams, Depends(page_params)]


UPLOAD_ERRORS = errors(
    404, 422,
    (413, "Larger than GATEWAY_MAX_BODY_BYTES, or every file larger than MAX_FILE_SIZE"),
    (415, "Neither multipart nor JSON, or every file of an unsupported type"),
)


@router.post("/api/v1/document/upload", status_code=202, response_model=UploadOut, tags=DOCS,
             dependencies=writers(), openapi_extra=upload.OPENAPI_BODY,
             responses={207: {"model": UploadOut, "description": "some files were refused"},
                        **UPLOAD_ERRORS})
async def upload_documents(
    request: Request, session: Session, caller: Caller, deps: Dependencies
) -> JSONResponse:
    """Upload files (multipart `files`/`file`) or URLs (`url`, `urls`) for an agent (processed later)."""
    parsed = await upload.read_request(request, deps.settings)
    agent = await get_agent(session, company_id=scope_of(caller), agent_id=parsed.agent_id, owner=deps.agents)
    actor = actor_of(request, caller)
    accepted: list[Document] = []
    errors: list[FileError] = []
    items: list[UploadFile | str] = [*parsed.files, *parsed.urls]
    task_id = await upload_task.start(session, agent.company_id)  # gone with the rollback if all fail
    for item in items:
        name = item if isinstance(item, str) else (item.filename or "upload")
        try:
            if isinstance(item, str):
                file = await upload.fetch_url(item, deps.fetcher)
            else:
                file = await upload.read_file(item, max_bytes=deps.max_file_size)
        except upload.FileRefused as exc:
            errors.append(upload.file_error(name, exc))
            continue
        accepted.append(await service.create_document(
            session, deps.blobs, company_id=agent.company_id, agent_id=agent.agent_id,
            user_id=caller.user_id, file=file, actor=actor, upload_task_id=task_id,
        ))
    if not accepted:
        raise upload.all_failed(errors)
    return _upload_answer(task_id, accepted, errors)


def _upload_answer(task_id: uuid.UUID, accepted: list[Document], errors: list[FileError]) -> JSONResponse:
    body = UploadOut(
        success=not errors,
        status="partial" if errors else "accepted",
        message=(f"{len(accepted)} accepted for processing, {len(errors)} refused" if errors
                 else f"{len(accepted)} accepted for processing"),
        task_id=task_id,
        status_url=f"/api/v1/tasks/{task_id}/status",
        documents=[DocumentOut.of(d) for d in accepted],
        documents_processed=len(accepted),
        task_ids=[str(d.task_id) for d in accepted],
        errors=[f"{e.filename}: {e.message}" for e in errors],
        errors_count=len(errors),
        failed=errors,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=207 if errors else 202)


@router.get("/api/v1/document", response_model=DocumentList, tags=DOCS, dependencies=readers)
async def list_documents(
    session: Session, caller: Caller, page: Page,
    agent_id: uuid.UUID | None = Query(None, description="Only this agent's documents"),
    status: DocumentStatus | None = Query(None, description="pending | processing | processed | failed"),
    document_type: str | None = Query(None, max_length=20, description="pdf, docx, txt, csv, ..."),
    search: str | None = Query(None, max_length=200, description="Part of the file name"),
) -> DocumentList:
    """The company's documents, newest first, with processing status."""
    stmt = repo.documents_query(scope_of(caller), agent_id=agent_id, status=status.value if status else None,
                                document_type=document_type, search=search)
    rows, pagination = await paginate(session, stmt, page)
    return DocumentList(document=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/agent/{agent_id}", response_model=DocumentList, tags=DOCS, dependencies=readers)
async def list_agent_documents(
    agent_id: uuid.UUID, session: Session, caller: Caller, page: Page, deps: Dependencies,
    status: DocumentStatus | None = Query(None),
) -> DocumentList:
    """One agent's documents (404 for an agent of another company)."""
    agent = await get_agent(session, company_id=scope_of(caller), agent_id=agent_id, owner=deps.agents)
    stmt = repo.documents_query(agent.company_id, agent_id=agent.agent_id,
                                status=status.value if status else None)
    rows, pagination = await paginate(session, stmt, page)
    return DocumentList(document=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/deleted", response_model=DeletedDocuments, tags=DOCS, dependencies=readers)
async def deleted_documents(session: Session, caller: Caller, page: Page) -> DeletedDocuments:
    """Soft-deleted documents of the company (restorable)."""
    rows, pagination = await paginate(session, repo.documents_query(scope_of(caller), deleted=True), page)
    return DeletedDocuments(deleted_documents=[DocumentOut.of(d) for d in rows], pagination=pagination)


@router.get("/api/v1/document/chunk/deleted", response_model=DeletedChunks, tags=CHUNKS,
            dependencies=readers)
async def deleted_chunks(session: Session, caller: Caller, page: Page) -> DeletedChunks:
    """Soft-deleted chunks of the company (restorable)."""
    rows, pagination = await paginate(session, repo.chunks_query(scope_of(caller), deleted=True), page)
    return DeletedChunks(deleted_chunks=[ChunkOut.of(c) for c in rows], pagination=pagination)


@router.delete("/api/v1/document/bulk-delete", response_model=DocumentsDeleted, tags=DOCS,
               dependencies=writers("delete"), responses=errors(404))
async def bulk_delete(
    body: BulkDeleteBody, request: Request, session: Session, caller: Caller, deps: Dependencies
) -> DocumentsDeleted:
    """Soft-delete several documents with their chunks and vectors."""
    company_id = scope_of(caller)
    found = [d for i in dict.fromkeys(body.document_ids)
             if (d := await repo.get_document(session, i, company_id)) is not None]
    if not found:
        raise service.DocumentNotFound("No active documents found to delete")
    chunks = await service.soft_delete(session, deps.store, found, actor=actor_of(request, caller))
    return DocumentsDeleted(message=f"{len(found)} documents deleted", deleted_documents_count=len(found),
                            deleted_chunks_count=chunks)


async def _live(session: AsyncSession, document_id: uuid.UUID, caller: Principal) -> Document:
    document = await repo.get_document(session, document_id, scope_of(caller))
    if document is None:
        raise service.DocumentNotFound()
    return document


@router.get("/api/v1/document/{document_id}", response_model=DocumentOut, tags=DOCS, dependencies=readers)
async def get_document(document_id: uuid.UUID, session: Session, caller: Caller) -> DocumentOut:
    """One document with its processing status, page, word and chunk counts."""
    return DocumentOut.of(await _live(session, document_id, caller))


@router.get("/api/v1/document/{document_id}/chunk", response_model=ChunkList, tags=CHUNKS,
            dependencies=readers)
async def list_chunks(document_id: uuid.UUID, session: Session, caller: Caller, page: Page) -> ChunkList:
    """A document's live chunks in order, with page numbers."""
    document = await _live(session, document_id, caller)
    stmt = repo.chunks_query(document.company_id, document_id=document.id)
    rows, pagination = await paginate(session, stmt, page)
    return ChunkList(chunks=[ChunkOut.of(c) for c in rows], pagination=pagination)


@router.delete("/api/v1/document/{document_id}", response_model=DocumentDeleted, tags=DOCS,
               dependencies=writers("delete"))
async def delete_document(
    document_id: uuid.UUID, request: Request, session: Session, caller: Caller, deps: Dependencies
) -> DocumentDeleted:
    """Soft-delete a document with its chunks; its vectors leave the index."""
    document = await _live(session, document_id, caller)
    chunks = await service.soft_delete(session, deps.store, [document], actor=actor_of(request, caller))
    return DocumentDeleted(message="Document deleted", document_id=document.id, deleted_chunks_count=chunks)


@router.patch("/api/v1/document/{document_id}/restore", response_model=DocumentRestored, tags=DOCS,
              dependencies=writers("update"))
async def restore_document(
    document_id: uuid.UUID, request: Request, session: Session, caller: Caller, deps: Dependencies
) -> DocumentRestored:
    """Restore a soft-deleted document with the chunks deleted with it; they are searchable again."""
    document = await repo.get_document(session, document_id, scope_of(caller), deleted=True)
    if document is None:
        raise service.DocumentNotFound("Deleted document not found")
    await get_agent(session, company_id=document.company_id, agent_id=document.agent_id, owner=deps.agents)
    count = await service.restore(session, deps.store, document, actor=actor_of(request, caller))
    return DocumentRestored(message="Document restored", document_id=document.id,
                            filename=document.original_filename, restored_chunks_count=count)


@router.delete("/api/v1/document/{document_id}/chunk", response_model=DocumentDeleted, tags=CHUNKS,
               dependencies=writers("delete"))
async def delete_all_chunks(
    document_id: uuid.UUID, session: Session, caller: Caller, deps: Dependencies
) -> DocumentDeleted:
    """Soft-delete all chunks of a document (the document stays)."""
    document = await _live(session, document_id, caller)
    count = await service.delete_document_chunks(session, deps.store, document)
    return DocumentDeleted(message="Document chunks deleted", document_id=document.id,
                           deleted_chunks_count=count)


@router.patch("/api/v1/document/{document_id}/chunk/restore-all", response_model=ChunksRestored, tags=CHUNKS,
              dependencies=writers("update"))
async def restore_all_chunks(
    document_id: uuid.UUID, session: Session, caller: Caller, deps: Dependencies
) -> ChunksRestored:
    """Restore every soft-deleted chunk of a live document."""
    document = await repo.get_document(session, document_id, scope_of(caller))
    if document is None:
        raise service.DocumentNotFound("Active document not found")
    count = await service.restore_document_chunks(session, deps.store, document)
    return ChunksRestored(message="Document chunks restored", document_id=document.id,
                          restored_chunks_count=count)


@router.delete("/api/v1/document/chunk/{chunk_id}", response_model=ChunkChanged, tags=CHUNKS,
               dependencies=writers("delete"))
async def delete_chunk(
    chunk_id: uuid.UUID, session: Session, caller: Caller, deps: Dependencies
) -> ChunkChanged:
    """Soft-delete one chunk; it leaves the index."""
    chunk = await repo.get_chunk(session, chunk_id, scope_of(caller), deleted=False)
    if chunk is None:
        raise service.ChunkNotFound("Document chunk not found or already deleted")
    await service.delete_chunk(session, deps.store, chunk)
    return ChunkChanged(message="Document chunk deleted", chunk_id=chunk.id, chunk_index=chunk.chunk_index)


@router.patch("/api/v1/document/chunk/{chunk_id}/restore", response_model=ChunkChanged, tags=CHUNKS,
              dependencies=writers("update"))
async def restore_chunk(
    chunk_id: uuid.UUID, session: Session, caller: Caller, deps: Dependencies
) -> ChunkChanged:
    """Restore one chunk (400 while its document is deleted)."""
    chunk = await repo.get_chunk(session, chunk_id, scope_of(caller), deleted=True)
    if chunk is None:
        raise service.ChunkNotFound("Deleted document chunk not found")
    await service.restore_chunk(session, deps.store, chunk)
    return ChunkChanged(message="Document chunk restored", chunk_id=chunk.id, chunk_index=chunk.chunk_index)
