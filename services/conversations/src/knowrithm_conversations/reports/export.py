"""The conversations export: one row per live message of the conversations a caller sees,
filtered as the lists are, as CSV or JSON, streamed in batches of conversations.

At most `MAX_CONVERSATIONS` conversations (the most recently active) go into one export; the
`X-Export-Truncated: true` header says when there were more (narrow the filters to get them).
A row: conversation id, agent (name), started (the conversation's creation), role, content,
created_at, rating (the feedback on that answer: positive | negative | neutral, empty without),
citations (the cited documents' names, `; ` between them) and answer_found (assistant messages).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db import Database
from knowrithm_conversations.conversations.filters import ConversationFilters
from knowrithm_conversations.conversations.repository import agents_by_id, visible_conversations
from knowrithm_conversations.conversations.service import Viewer
from knowrithm_conversations.models import Conversation, Feedback, Message

MAX_CONVERSATIONS = 10_000
BATCH = 200
COLUMNS = ("conversation_id", "agent", "started", "role", "content", "created_at", "rating", "citations",
           "answer_found")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


async def conversation_ids(
    session: AsyncSession, viewer: Viewer, filters: ConversationFilters
) -> tuple[list[uuid.UUID], bool]:
    """The ids of the conversations to export (most recently active first) and whether there were more."""
    stmt = visible_conversations(viewer.company_id, entity=viewer.entity, filters=filters)
    ids = list(await session.scalars(stmt.with_only_columns(Conversation.id).limit(MAX_CONVERSATIONS + 1)))
    return ids[:MAX_CONVERSATIONS], len(ids) > MAX_CONVERSATIONS


def _verdict(feedback: Feedback | None) -> str:
    if feedback is None:
        return ""
    if feedback.thumbs in ("up", "down"):
        return "positive" if feedback.thumbs == "up" else "negative"
    rating = feedback.rating or 3
    return "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral"


async def _rows(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """The export's rows of these conversations, in their order, each one's messages oldest first."""
    found = await session.scalars(select(Conversation).where(Conversation.id.in_(ids)))
    conversations = {c.id: c for c in found}
    messages = (await session.scalars(
        select(Message).where(Message.conversation_id.in_(ids), Message.not_deleted())
        .order_by(Message.created_at, Message.id)
    )).all()
    feedback: dict[uuid.UUID, Feedback] = {}
    for fb in await session.scalars(select(Feedback).where(Feedback.conversation_id.in_(ids),
                                                           Feedback.message_id.is_not(None))
                                    .order_by(Feedback.updated_at)):
        feedback[fb.message_id] = fb  # type: ignore[index]  # the latest one wins
    agents = await agents_by_id(session, (c.agent_id for c in conversations.values()))
    by_conversation: dict[uuid.UUID, list[Message]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    rows = []
    for cid in ids:
        c = conversations.get(cid)
        if c is None:
            continue
        agent = agents.get(c.agent_id)
        for m in by_conversation.get(cid, []):
            answered = (m.message_metadata or {}).get("answer_found") if m.role == "assistant" else None
            rows.append({
                "conversation_id": str(cid), "agent": agent.name if agent else str(c.agent_id),
                "started": c.created_at.isoformat(), "role": m.role, "content": m.content,
                "created_at": m.created_at.isoformat(), "rating": _verdict(feedback.get(m.id)),
                "citations": [str(x.get("document_name") or "") for x in m.citations or []],
                "answer_found": answered,
            })
    return rows


def _csv(rows: list[dict[str, Any]], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        found = row["answer_found"]
        writer.writerow([*(row[k] for k in COLUMNS[:7]), "; ".join(row["citations"]),
                         "" if found is None else str(found).lower()])
    return out.getvalue()


async def stream(db: Database, ids: list[uuid.UUID], fmt: ExportFormat) -> AsyncIterator[bytes]:
    """The export's bytes, one batch of conversations at a time (each batch in its own session)."""
    if fmt is ExportFormat.CSV:
        yield _csv([], header=True).encode()
    else:
        yield b"["
    first = True
    for start in range(0, len(ids), BATCH):
        async with db.sessions() as session:
            rows = await _rows(session, ids[start:start + BATCH])
        if fmt is ExportFormat.CSV:
            yield _csv(rows, header=False).encode()
            continue
        for row in rows:
            yield (("" if first else ",") + "\n" + json.dumps(row, ensure_ascii=False)).encode()
            first = False
    if fmt is ExportFormat.JSON:
        yield b"\n]\n"
