"""Projections of the conversations service's events: conversations, messages, leads, feedback."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ConversationFact, FeedbackFact, LeadFact, MessageFact
from knowrithm_analytics.projections.upserts import (
    EPOCH,
    UNKNOWN_ENTITY,
    company_of,
    copied,
    if_newer,
    insert_later,
    insert_once,
    is_newer,
    run,
    upsert,
)
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.conversations import (
    ConversationCreatedV1,
    ConversationDeletedV1,
    ConversationRestoredV1,
    FeedbackGivenV1,
    LeadConvertedV1,
    LeadDeletedV1,
    LeadRegisteredV1,
    LeadUpdatedV1,
    MessageCreatedV1,
)

CONVERSATIONS: Table = ConversationFact.__table__
MESSAGES: Table = MessageFact.__table__
LEADS: Table = LeadFact.__table__
FEEDBACK: Table = FeedbackFact.__table__

# --- conversations -------------------------------------------------------------------------

_CONVERSATION_CREATED = upsert(
    CONVERSATIONS,
    "conversation_id",
    lambda x: copied(x, ("agent_id", "entity_type", "entity_id", "started_at")),
)
_CONVERSATION_LIFECYCLE = upsert(
    CONVERSATIONS,
    "conversation_id",
    lambda x: copied(x, ("deleted_at", "lifecycle_at")),
    where=lambda x: is_newer(CONVERSATIONS.c.lifecycle_at, x.lifecycle_at),
)


async def conversation_created(session: AsyncSession, event: EventEnvelope) -> None:
    """A conversation, once (filling in a row a deletion or restoration seen first started)."""
    data = ConversationCreatedV1.model_validate(event.data)
    await run(
        session,
        _CONVERSATION_CREATED,
        {
            "conversation_id": data.conversation_id,
            "company_id": company_of(event),
            "agent_id": data.agent_id,
            "entity_type": data.entity_type[:20],
            "entity_id": data.entity_id,
            "started_at": event.time,
            "deleted_at": None,
            "lifecycle_at": None,
        },
    )


async def _conversation_lifecycle(
    session: AsyncSession,
    event: EventEnvelope,
    *,
    conversation_id: uuid.UUID,
    agent_id: uuid.UUID,
    deleted: bool,
) -> None:
    await run(
        session,
        _CONVERSATION_LIFECYCLE,
        {
            "conversation_id": conversation_id,
            "company_id": company_of(event),
            "agent_id": agent_id,
            "entity_type": "unknown",
            "entity_id": UNKNOWN_ENTITY,
            "started_at": event.time,
            "deleted_at": event.time if deleted else None,
            "lifecycle_at": event.time,
        },
    )


async def conversation_deleted(session: AsyncSession, event: EventEnvelope) -> None:
    """A conversation leaves the counts (unless restored later)."""
    data = ConversationDeletedV1.model_validate(event.data)
    await _conversation_lifecycle(
        session, event, conversation_id=data.conversation_id, agent_id=data.agent_id, deleted=True
    )


async def conversation_restored(session: AsyncSession, event: EventEnvelope) -> None:
    """A conversation counts again."""
    data = ConversationRestoredV1.model_validate(event.data)
    await _conversation_lifecycle(
        session, event, conversation_id=data.conversation_id, agent_id=data.agent_id, deleted=False
    )


# --- messages and feedback (facts: inserted once) ------------------------------------------

_MESSAGE_CREATED = insert_once(MESSAGES)
_FEEDBACK_GIVEN = insert_once(FEEDBACK)


async def message_created(session: AsyncSession, event: EventEnvelope) -> None:
    """One message with its tokens, latency and model."""
    data = MessageCreatedV1.model_validate(event.data)
    insert_later(
        session,
        _MESSAGE_CREATED,
        {
            "message_id": data.message_id,
            "company_id": company_of(event),
            "conversation_id": data.conversation_id,
            "agent_id": data.agent_id,
            "role": data.role[:20],
            "status": data.status[:20],
            "input_tokens": data.input_tokens,
            "output_tokens": data.output_tokens,
            "latency_ms": data.latency_ms,
            "first_token_ms": data.first_token_ms,
            "model": data.model and data.model[:200],
            "citations": data.citations,
            "error_code": data.error_code and data.error_code[:100],
            "created_at": event.time,
        },
    )


async def feedback_given(session: AsyncSession, event: EventEnvelope) -> None:
    """One piece of feedback: a rating, thumbs, or both."""
    data = FeedbackGivenV1.model_validate(event.data)
    insert_later(
        session,
        _FEEDBACK_GIVEN,
        {
            "feedback_id": data.feedback_id,
            "company_id": company_of(event),
            "conversation_id": data.conversation_id,
            "message_id": data.message_id,
            "agent_id": data.agent_id,
            "entity_type": data.entity_type[:20],
            "rating": data.rating,
            "thumbs": data.thumbs,
            "has_comment": data.has_comment,
            "created_at": event.time,
        },
    )


# --- leads ---------------------------------------------------------------------------------

_REGISTRATION = ("agent_id", "conversation_id", "channel", "source", "consent_marketing", "registered_at")
_STATUS = ("status", "state_time")
_LEAD_REGISTERED = upsert(
    LEADS,
    "lead_id",
    lambda x: {
        **copied(x, _REGISTRATION),
        **if_newer(LEADS, x, time="state_time", columns=_STATUS),
    },
)
_LEAD_STATUS = upsert(
    LEADS,
    "lead_id",
    lambda x: {
        **if_newer(LEADS, x, time="state_time", columns=_STATUS),
        "agent_id": func.coalesce(LEADS.c.agent_id, x.agent_id),
        "converted_at": func.least(LEADS.c.converted_at, x.converted_at),
    },
)
# Leads are never restored: the first deletion seen stands, whatever arrives after it.
_LEAD_DELETED = upsert(
    LEADS, "lead_id", lambda x: {"deleted_at": func.least(LEADS.c.deleted_at, x.deleted_at)}
)
_LEAD_ERASED = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.company_id == bindparam("erased_company"),
        CONVERSATIONS.c.entity_type == "lead",
        CONVERSATIONS.c.entity_id == bindparam("erased_lead"),
        CONVERSATIONS.c.deleted_at.is_(None),
    )
    .values(
        deleted_at=bindparam("erased_at"),
        lifecycle_at=func.greatest(CONVERSATIONS.c.lifecycle_at, bindparam("erased_at")),
    )
)


def _lead(event: EventEnvelope, lead_id: uuid.UUID, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "lead_id": lead_id,
        "company_id": company_of(event),
        "agent_id": None,
        "conversation_id": None,
        "channel": None,
        "source": None,
        "status": "unknown",
        "consent_marketing": False,
        "registered_at": None,
        "converted_at": None,
        "deleted_at": None,
        "state_time": event.time,
    }
    row.update(fields)
    return row


async def lead_registered(session: AsyncSession, event: EventEnvelope) -> None:
    """A lead's registration; its status unless an update seen first is newer."""
    data = LeadRegisteredV1.model_validate(event.data)
    await run(
        session,
        _LEAD_REGISTERED,
        _lead(
            event,
            data.lead_id,
            agent_id=data.agent_id,
            conversation_id=data.conversation_id,
            channel=data.channel[:20],
            source=data.source and data.source[:100],
            status=data.status[:20],
            consent_marketing=data.consent_marketing,
            registered_at=event.time,
        ),
    )


async def _lead_status(
    session: AsyncSession,
    event: EventEnvelope,
    *,
    lead_id: uuid.UUID,
    status: str,
    agent_id: uuid.UUID | None = None,
    converted_at: dt.datetime | None = None,
) -> None:
    row = _lead(event, lead_id, status=status[:20], agent_id=agent_id, converted_at=converted_at)
    await run(session, _LEAD_STATUS, row)


async def lead_updated(session: AsyncSession, event: EventEnvelope) -> None:
    """A lead's new status, unless a newer one was applied already."""
    data = LeadUpdatedV1.model_validate(event.data)
    await _lead_status(session, event, lead_id=data.lead_id, status=data.status)


async def lead_converted(session: AsyncSession, event: EventEnvelope) -> None:
    """A lead converted: `converted_at` keeps the first conversion seen."""
    data = LeadConvertedV1.model_validate(event.data)
    await _lead_status(
        session,
        event,
        lead_id=data.lead_id,
        status="converted",
        agent_id=data.agent_id,
        converted_at=event.time,
    )


async def lead_deleted(session: AsyncSession, event: EventEnvelope) -> None:
    """A lead leaves the funnel; an erased lead's conversations are gone as well (GDPR)."""
    data = LeadDeletedV1.model_validate(event.data)
    await run(session, _LEAD_DELETED, _lead(event, data.lead_id, deleted_at=event.time, state_time=EPOCH))
    if data.erased:
        await run(
            session,
            _LEAD_ERASED,
            {"erased_company": company_of(event), "erased_lead": data.lead_id, "erased_at": event.time},
        )
