"""The task of one upload: it follows every document the upload accepted, so a client (the official
SDK resolves a 202's `status_url`) waits once and gets the processed documents.

Its state is derived on read from the documents and their own tasks, never written: it cannot
drift from them, and the worker needs no extra step. Pending while every document waits, running
while any is being processed, completed once all are processed or failed (the result lists them
all, failures with their reason), failed only when every document failed.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.tasks import TaskStatus, TaskView, create_task
from knowrithm_ingestion.documents.schemas import DocumentOut, UploadResult
from knowrithm_ingestion.models import Document, DocumentStatus, shared

KIND = "upload_documents"
FINAL = (DocumentStatus.PROCESSED.value, DocumentStatus.FAILED.value)


async def start(session: AsyncSession, company_id: uuid.UUID) -> uuid.UUID:
    """The upload's task, added in the request's transaction (documents point at it)."""
    return await create_task(session, shared.tasks, company_id=company_id, kind=KIND)


async def _documents(session: AsyncSession, view: TaskView) -> list[tuple[Document, int]]:
    """The upload's documents (deleted ones too: they are still processed) with their task's progress."""
    tasks = shared.tasks
    rows = await session.execute(
        select(Document, tasks.c.progress)
        .outerjoin(tasks, tasks.c.id == Document.task_id)
        .where(Document.upload_task_id == view.task_id)
        .order_by(Document.created_at, Document.id)
    )
    return [(doc, progress or 0) for doc, progress in rows.all()]


def _result(documents: list[Document]) -> UploadResult:
    failed = [d for d in documents if d.status == DocumentStatus.FAILED.value]
    processed = len(documents) - len(failed)
    return UploadResult(
        success=not failed,
        message=f"{processed} processed, {len(failed)} failed" if failed else f"{processed} processed",
        documents=[DocumentOut.of(d) for d in documents],
        documents_processed=processed,
        task_ids=[str(d.task_id) for d in documents if d.task_id],
        errors=[f"{d.original_filename}: {d.processing_error}" for d in failed],
        errors_count=len(failed),
    )


async def view(session: AsyncSession, task: TaskView) -> TaskView:
    """The upload task's state, computed from its documents."""
    rows = await _documents(session, task)
    documents = [doc for doc, _ in rows]
    done = sum(doc.status in FINAL for doc in documents)
    progress = sum(100 if doc.status in FINAL else p for doc, p in rows) // max(len(rows), 1)
    stage = f"{done}/{len(documents)} documents done"
    if done < len(documents):
        waiting = all(doc.status == DocumentStatus.PENDING.value for doc in documents)
        status = TaskStatus.PENDING if waiting else TaskStatus.RUNNING
        return task.model_copy(update={"status": status, "progress": progress, "stage": stage})
    result = _result(documents)
    if documents and result.documents_processed == 0:
        return task.model_copy(update={"status": TaskStatus.FAILED, "progress": 100, "stage": stage,
                                       "error": "; ".join(result.errors)})
    return task.model_copy(update={"status": TaskStatus.COMPLETED, "progress": 100, "stage": stage,
                                   "result": result.model_dump(mode="json")})
