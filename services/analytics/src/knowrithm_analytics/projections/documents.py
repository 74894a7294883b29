"""Projection of the ingestion service's document events: each document's processing state.

`state_time` orders the processing status and `lifecycle_at` the deletion and restoration:
an event older than the row's changes nothing of its kind (the upload's own facts: type,
size, uploader, are always kept), so a late deletion still counts after a newer "processed".
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import DocumentFact
from knowrithm_analytics.projections.upserts import EPOCH, company_of, copied, if_newer, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentFailedV1,
    DocumentProcessedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
)

DOCUMENTS: Table = DocumentFact.__table__
PENDING, PROCESSED, FAILED = "pending", "processed", "failed"
_RESULTS = ("status", "page_count", "chunk_count", "word_count", "duration_ms", "failure_code", "state_time")
_UPLOAD = ("agent_id", "uploaded_by", "document_type", "source", "file_size", "uploaded_at")


def _statement(
    *, newer: tuple[str, ...], always: tuple[str, ...] = (), first_known: tuple[str, ...] = (),
    time: str = "state_time",
) -> Insert:
    return upsert(
        DOCUMENTS,
        "document_id",
        lambda x: {
            **if_newer(DOCUMENTS, x, time=time, columns=newer),
            **copied(x, always),
            **{name: func.coalesce(DOCUMENTS.c[name], x[name]) for name in first_known},
        },
    )


_UPLOADED = _statement(newer=("status", "state_time"), always=_UPLOAD)
_RESULT = _statement(newer=_RESULTS, first_known=("agent_id", "document_type"))
_LIFECYCLE = _statement(newer=("deleted_at", "lifecycle_at"), first_known=("agent_id",), time="lifecycle_at")


def _row(event: EventEnvelope, document_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    row = {
        "document_id": document_id,
        "company_id": company_of(event),
        "agent_id": None,
        "uploaded_by": None,
        "document_type": None,
        "source": None,
        "file_size": None,
        "status": PENDING,
        "page_count": None,
        "chunk_count": None,
        "word_count": None,
        "duration_ms": None,
        "failure_code": None,
        "uploaded_at": None,
        "deleted_at": None,
        "state_time": event.time,
        "lifecycle_at": None,
    }
    row.update(fields)
    return row


async def document_uploaded(session: AsyncSession, event: EventEnvelope) -> None:
    """A document accepted for processing, with who uploaded it."""
    data = DocumentUploadedV1.model_validate(event.data)
    await run(
        session,
        _UPLOADED,
        _row(
            event,
            data.document_id,
            agent_id=data.agent_id,
            uploaded_by=event.actor.id,
            document_type=data.document_type[:30],
            source=data.source[:20],
            file_size=data.file_size,
            uploaded_at=event.time,
        ),
    )


async def document_processed(session: AsyncSession, event: EventEnvelope) -> None:
    """A document searchable: its pages, chunks, words and processing time."""
    data = DocumentProcessedV1.model_validate(event.data)
    await run(
        session,
        _RESULT,
        _row(
            event,
            data.document_id,
            agent_id=data.agent_id,
            document_type=data.document_type[:30],
            status=PROCESSED,
            page_count=data.page_count,
            chunk_count=data.chunk_count,
            word_count=data.word_count,
            duration_ms=data.duration_ms,
        ),
    )


async def document_failed(session: AsyncSession, event: EventEnvelope) -> None:
    """A document that could not be processed, with the failure's code."""
    data = DocumentFailedV1.model_validate(event.data)
    await run(
        session,
        _RESULT,
        _row(
            event,
            data.document_id,
            agent_id=data.agent_id,
            document_type=data.document_type[:30],
            status=FAILED,
            failure_code=data.code[:100],
        ),
    )


async def _lifecycle(
    session: AsyncSession,
    event: EventEnvelope,
    document_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    *,
    deleted: bool,
) -> None:
    # A row this starts has no processing state yet: any processing event is newer (EPOCH).
    row = _row(event, document_id, agent_id=agent_id, deleted_at=event.time if deleted else None,
               lifecycle_at=event.time, state_time=EPOCH)
    await run(session, _LIFECYCLE, row)


async def document_deleted(session: AsyncSession, event: EventEnvelope) -> None:
    """A document leaves the counts (unless restored later)."""
    data = DocumentDeletedV1.model_validate(event.data)
    await _lifecycle(session, event, data.document_id, data.agent_id, deleted=True)


async def document_restored(session: AsyncSession, event: EventEnvelope) -> None:
    """A document counts again."""
    data = DocumentRestoredV1.model_validate(event.data)
    await _lifecycle(session, event, data.document_id, data.agent_id, deleted=False)
