"""Projection of the ingestion service's document events: each document's processing state.

`state_time` orders the processing status and `lifecycle_at` the deletion and restoration:
an event older than the row's changes nothing of its kind (the upload's own facts: type,
size, uploader, are always kept), so a late deletion still counts after a newer "processed".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import DocumentFact
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import EPOCH, company_of, copied, if_newer, row, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentFailedV1,
    DocumentProcessedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
)

DOCUMENTS: Table = DocumentFact.__table__
projections = Projections()
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


def _document(event: EventEnvelope, data: BaseModel, **fields: Any) -> dict[str, Any]:
    """A document's row: the payload's fields, `fields`, and what a row starts with (pending)."""
    fields = {"company_id": company_of(event), "status": PENDING, "state_time": event.time, **fields}
    return row(DOCUMENTS, data, **fields)


@projections.of(DocumentUploadedV1)
async def document_uploaded(session: AsyncSession, event: EventEnvelope, data: DocumentUploadedV1) -> None:
    """A document accepted for processing, with who uploaded it."""
    await run(session, _UPLOADED, _document(event, data, uploaded_by=event.actor.id, uploaded_at=event.time))


@projections.of(DocumentProcessedV1)
async def document_processed(session: AsyncSession, event: EventEnvelope, data: DocumentProcessedV1) -> None:
    """A document searchable: its pages, chunks, words and processing time."""
    await run(session, _RESULT, _document(event, data, status=PROCESSED))


@projections.of(DocumentFailedV1)
async def document_failed(session: AsyncSession, event: EventEnvelope, data: DocumentFailedV1) -> None:
    """A document that could not be processed, with the failure's code."""
    await run(session, _RESULT, _document(event, data, status=FAILED, failure_code=data.code))


@projections.of(DocumentDeletedV1, DocumentRestoredV1)
async def document_lifecycle(
    session: AsyncSession, event: EventEnvelope, data: DocumentDeletedV1 | DocumentRestoredV1
) -> None:
    """A deleted document leaves the counts; a restored one counts again (the later wins)."""
    deleted_at = event.time if event.type == DocumentDeletedV1.event_type else None
    # A row this starts has no processing state yet: any processing event is newer (EPOCH).
    document = _document(event, data, deleted_at=deleted_at, lifecycle_at=event.time, state_time=EPOCH)
    await run(session, _LIFECYCLE, document)
