"""A document's processing history: every stage transition with its time, attempt and duration.

The pipeline and the use cases that queue processing call `record` inside the transaction of the
status change the row describes. Documents processed before the history existed have no rows:
their history is told from what the document row knows (created, processing started, processed or
failed), marked `recorded: false`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_ingestion.models import Document, DocumentEvent, DocumentStatus


class Stage(StrEnum):
    RECEIVED = "received"  # uploaded (or a crawled page stored) and queued
    RETRY = "retry"  # a failed document queued again
    REPROCESS = "reprocess"  # a processed (or failed) document queued again on request
    PROCESSING = "processing"  # a worker took the job
    EXTRACTING = "extracting"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    PROCESSED = "processed"


class StageStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    COMPLETED = "completed"
    RETRYING = "retrying"  # failed; the job is delivered again later
    FAILED = "failed"  # failed for good: the reason is on the document
    DEAD_LETTERED = "dead_lettered"  # the job was parked on the dead-letter subject


def record(
    session: AsyncSession, document: Document, *, stage: Stage, status: StageStatus,
    at: dt.datetime | None = None, duration_ms: int | None = None, delivery: int | None = None,
    reason: str | None = None, code: str | None = None, detail: str | None = None,
) -> DocumentEvent:
    """Add one transition of `document` to the session (it lands with the caller's commit)."""
    event = DocumentEvent(
        id=uuid.uuid4(), company_id=document.company_id, document_id=document.id, stage=stage.value,
        status=status.value, at=at or utcnow(), duration_ms=duration_ms, attempt=max(document.attempts, 1),
        delivery=delivery, reason=reason, code=code, detail=detail,
    )
    session.add(event)
    return event


async def events_of(session: AsyncSession, document: Document) -> Sequence[DocumentEvent]:
    """The document's recorded transitions, oldest first."""
    stmt = (select(DocumentEvent)
            .where(DocumentEvent.company_id == document.company_id, DocumentEvent.document_id == document.id)
            .order_by(DocumentEvent.at, DocumentEvent.id))
    return list(await session.scalars(stmt))


def _ms(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(int((end - start).total_seconds() * 1000), 0)


def from_row(document: Document) -> list[DocumentEvent]:
    """What a document row processed before the history existed tells of its processing."""
    told = [DocumentEvent(stage=Stage.RECEIVED.value, status=StageStatus.QUEUED.value, at=document.created_at,
                          attempt=1)]
    started = document.processing_started_at
    if started is not None:
        told.append(DocumentEvent(stage=Stage.PROCESSING.value, status=StageStatus.STARTED.value, at=started,
                                  attempt=1))
    if document.status == DocumentStatus.PROCESSED.value and document.processed_at is not None:
        told.append(DocumentEvent(stage=Stage.PROCESSED.value, status=StageStatus.COMPLETED.value,
                                  at=document.processed_at, duration_ms=_ms(started, document.processed_at),
                                  attempt=1, detail=None))
    elif document.status == DocumentStatus.FAILED.value:
        told.append(DocumentEvent(stage=Stage.PROCESSING.value, status=StageStatus.FAILED.value,
                                  at=document.updated_at, attempt=1, reason=document.processing_error,
                                  code=document.error_code))
    return told
