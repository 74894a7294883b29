"""Projections of the conversations service's events: conversations, messages, leads, feedback."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import ConversationFact, FeedbackFact, LeadFact, MessageFact
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import (
    EPOCH,
    UNKNOWN_ENTITY,
    company_of,
    copied,
    if_newer,
    insert_later,
    insert_once,
    is_newer,
    row,
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
projections = Projections()

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


@projections.of(ConversationCreatedV1)
async def conversation_created(
    session: AsyncSession, event: EventEnvelope, data: ConversationCreatedV1
) -> None:
    """A conversation, once (filling in a row a deletion or restoration seen first started)."""
    conversation = row(CONVERSATIONS, data, company_id=company_of(event), started_at=event.time)
    await run(session, _CONVERSATION_CREATED, conversation)


@projections.of(ConversationDeletedV1, ConversationRestoredV1)
async def conversation_lifecycle(
    session: AsyncSession, event: EventEnvelope, data: ConversationDeletedV1 | ConversationRestoredV1
) -> None:
    """A deleted conversation leaves the counts; a restored one counts again (the later wins)."""
    deleted = event.type == ConversationDeletedV1.event_type
    conversation = row(
        CONVERSATIONS, data, company_id=company_of(event), entity_type="unknown", entity_id=UNKNOWN_ENTITY,
        started_at=event.time, deleted_at=event.time if deleted else None, lifecycle_at=event.time,
    )
    await run(session, _CONVERSATION_LIFECYCLE, conversation)


# --- messages and feedback (facts: inserted once) ------------------------------------------

_MESSAGE_CREATED = insert_once(MESSAGES)
_FEEDBACK_GIVEN = insert_once(FEEDBACK)


def _fact(table: Table, event: EventEnvelope, data: BaseModel) -> dict[str, Any]:
    """The payload as a row of `table`, of the envelope's company, created at the event's time."""
    return row(table, data, company_id=company_of(event), created_at=event.time)


@projections.of(MessageCreatedV1)
async def message_created(session: AsyncSession, event: EventEnvelope, data: MessageCreatedV1) -> None:
    """One message with its tokens, latency and model."""
    insert_later(session, _MESSAGE_CREATED, _fact(MESSAGES, event, data))


@projections.of(FeedbackGivenV1)
async def feedback_given(session: AsyncSession, event: EventEnvelope, data: FeedbackGivenV1) -> None:
    """One piece of feedback: a rating, thumbs, or both."""
    insert_later(session, _FEEDBACK_GIVEN, _fact(FEEDBACK, event, data))


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


# What a lead's row says until its registration arrives (a later event may come first).
_LEAD_PLACEHOLDERS = {"status": "unknown", "consent_marketing": False}


def _lead(event: EventEnvelope, data: BaseModel, **fields: Any) -> dict[str, Any]:
    fields = {"company_id": company_of(event), "state_time": event.time, **fields}
    return row(LEADS, data, _LEAD_PLACEHOLDERS, **fields)


@projections.of(LeadRegisteredV1)
async def lead_registered(session: AsyncSession, event: EventEnvelope, data: LeadRegisteredV1) -> None:
    """A lead's registration; its status unless an update seen first is newer."""
    await run(session, _LEAD_REGISTERED, _lead(event, data, registered_at=event.time))


@projections.of(LeadUpdatedV1)
async def lead_updated(session: AsyncSession, event: EventEnvelope, data: LeadUpdatedV1) -> None:
    """A lead's new status, unless a newer one was applied already."""
    await run(session, _LEAD_STATUS, _lead(event, data))


@projections.of(LeadConvertedV1)
async def lead_converted(session: AsyncSession, event: EventEnvelope, data: LeadConvertedV1) -> None:
    """A lead converted: `converted_at` keeps the first conversion seen."""
    await run(session, _LEAD_STATUS, _lead(event, data, status="converted", converted_at=event.time))


@projections.of(LeadDeletedV1)
async def lead_deleted(session: AsyncSession, event: EventEnvelope, data: LeadDeletedV1) -> None:
    """A lead leaves the funnel; an erased lead's conversations are gone as well (GDPR)."""
    await run(session, _LEAD_DELETED, _lead(event, data, deleted_at=event.time, state_time=EPOCH))
    if data.erased:
        await run(
            session,
            _LEAD_ERASED,
            {"erased_company": company_of(event), "erased_lead": data.lead_id, "erased_at": event.time},
        )
