"""Document numbers for the dashboard: uploads, types, processing outcomes, storage, top uploaders.

Sizes are the uploaded files' sizes; words are counted by ingestion when a document is
processed (documents not processed yet have none). Users' full names never reach analytics:
`full_name` is null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import Facts, counts, day_of, iso, percent, rounded, seconds, within
from knowrithm_analytics.models import DocumentFact, MessageFact, UserRegistration
from knowrithm_analytics.windows import Window

TOP_UPLOADERS = 5
MB = 1024 * 1024


async def _storage(session: AsyncSession, facts: Facts) -> dict[str, Any]:
    stmt = select(
        func.coalesce(func.sum(DocumentFact.file_size), 0),
        func.avg(DocumentFact.file_size),
        func.max(DocumentFact.file_size),
        func.coalesce(func.sum(DocumentFact.word_count), 0),
        func.avg(DocumentFact.word_count),
    ).where(*facts.documents())
    size, average, largest, words, average_words = (await session.execute(stmt)).one()
    return {
        "total_size_bytes": int(size),
        "total_size_mb": round(int(size) / MB, 2),
        "average_size_mb": None if average is None else round(float(average) / MB, 2),
        "largest_file_mb": None if largest is None else round(int(largest) / MB, 2),
        "total_words": int(words),
        "average_words": rounded(average_words),
    }


async def _top_uploaders(session: AsyncSession, facts: Facts) -> list[dict[str, Any]]:
    stmt = (
        select(UserRegistration.username, func.count())
        .select_from(DocumentFact)
        .join(UserRegistration, UserRegistration.user_id == DocumentFact.uploaded_by)
        .where(*facts.documents())
        .group_by(UserRegistration.user_id, UserRegistration.username)
        .order_by(func.count().desc(), UserRegistration.username)
        .limit(TOP_UPLOADERS)
    )
    return [
        {"username": username, "full_name": None, "document_count": int(count)}
        for username, count in await session.execute(stmt)
    ]


async def document_analytics(session: AsyncSession, facts: Facts, timeline: Window) -> dict[str, Any]:
    """Uploads per day in `timeline`, documents by type and status, storage, top uploaders."""
    day = day_of(DocumentFact.uploaded_at).label("day")
    daily = (
        select(day, func.count())
        .where(*facts.documents(), *within(DocumentFact.uploaded_at, timeline))
        .group_by(day)
        .order_by(day)
    )
    types = select(DocumentFact.document_type, func.count()).where(*facts.documents())
    statuses = select(DocumentFact.status, func.count()).where(*facts.documents())
    return {
        "daily_uploads": [{"date": iso(d), "count": int(c)} for d, c in await session.execute(daily)],
        "document_types": counts(await session.execute(types.group_by(DocumentFact.document_type))),
        "processing_status": counts(await session.execute(statuses.group_by(DocumentFact.status))),
        "storage_analytics": await _storage(session, facts),
        "top_users_by_documents": await _top_uploaders(session, facts),
    }


async def performance_analytics(session: AsyncSession, facts: Facts) -> dict[str, Any]:
    """Document processing outcomes and time; answers per model with their latency."""
    processed = DocumentFact.status == "processed"
    failed = DocumentFact.status == "failed"
    outcome = select(
        func.count().filter(processed),
        func.count().filter(failed),
        func.avg(DocumentFact.duration_ms).filter(processed),
    ).where(*facts.documents())
    done, failures, duration = (await session.execute(outcome)).one()
    models = (
        select(MessageFact.model, func.count(), func.avg(MessageFact.latency_ms))
        .where(*facts.messages(), MessageFact.role == "assistant", MessageFact.model.is_not(None))
        .group_by(MessageFact.model)
        .order_by(func.count().desc(), MessageFact.model)
    )
    return {
        "document_processing": {
            "average_processing_time_seconds": seconds(duration),
            "failed_documents": int(failures),
            "success_rate": percent(done, int(done) + int(failures)),
        },
        "model_performance": [
            {
                "model": model,
                "message_count": int(count),
                "average_processing_time": seconds(latency),
                "average_confidence": None,
            }
            for model, count, latency in await session.execute(models)
        ],
    }
