"""Conversation use cases: who the caller is and what they see, create, soft delete and restore
conversations and messages, keeping `message_count` equal to the live messages.

Services flush, never commit (the request's session is the commit point); events go to the
outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import BadRequest, Forbidden, NotFound, Unauthorized
from knowrithm_common.events import Actor, EventData, new_event
from knowrithm_common.events.conversations import (
    ConversationCreatedV1,
    ConversationDeletedV1,
    ConversationRestoredV1,
)
from knowrithm_common.identity import Principal, Role
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.queries import AgentsOwner
from knowrithm_common.tenancy import scope_of
from knowrithm_conversations.agents_view import get_agent
from knowrithm_conversations.conversations import repository as repo
from knowrithm_conversations.conversations.repository import Entity
from knowrithm_conversations.conversations.schemas import NewConversation
from knowrithm_conversations.models import AgentView, Conversation, EntityType, Lead, Message, shared

SOURCE = "conversations"


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "Conversation not found"


class MessageNotFound(NotFound):
    code, message = "message_not_found", "Message not found"


class EntityNotFound(NotFound):
    code, message = "entity_not_found", "No such user or lead among the conversations you can see"


class ConversationDeleted(BadRequest):
    code = "conversation_deleted"
    message = "Cannot restore the message: its conversation is deleted; restore the conversation first"


def entity_of(principal: Principal) -> tuple[EntityType, uuid.UUID]:
    """Whose conversations the caller acts as: a user (an API key's owner too) or a lead."""
    if principal.kind == "lead" and principal.lead_id is not None:
        return EntityType.LEAD, principal.lead_id
    if principal.kind in ("user", "api_key") and principal.user_id is not None:
        return EntityType.USER, principal.user_id
    raise Forbidden("Conversations need a signed-in user, a user's API key or a lead")


def sees_company(principal: Principal) -> bool:
    """Admins (and their API keys) see every conversation of their company; super admins, all."""
    return principal.kind in ("user", "api_key") and principal.role in (Role.ADMIN, Role.SUPER_ADMIN)


@dataclass(frozen=True, slots=True)
class Viewer:
    """What a caller may see: a company (None: every one) and, unless an admin, one entity."""

    company_id: uuid.UUID | None
    entity: Entity | None


def viewer_of(principal: Principal) -> Viewer:
    """The caller's view of conversations."""
    company_id = scope_of(principal)
    return Viewer(company_id, None if sees_company(principal) else entity_of(principal))


async def get_visible_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, principal: Principal, *, deleted: bool = False,
    lock: bool = False,
) -> Conversation:
    """A conversation the caller may see (live, or soft-deleted with `deleted=True`); 404 otherwise."""
    await require_live_lead(session, principal)
    viewer = viewer_of(principal)
    conversation = await repo.get_conversation(
        session, conversation_id, viewer.company_id, entity=viewer.entity, deleted=deleted, lock=lock
    )
    if conversation is None:
        raise ConversationNotFound("Deleted conversation not found" if deleted else None)
    return conversation


async def get_visible_message(
    session: AsyncSession, message_id: uuid.UUID, principal: Principal, *, deleted: bool
) -> Message:
    """A live (or soft-deleted) message of a conversation the caller may see; 404 otherwise."""
    viewer = viewer_of(principal)
    message = await repo.get_message(session, message_id, viewer.company_id, entity=viewer.entity,
                                     deleted=deleted)
    if message is None:
        raise MessageNotFound("Deleted message not found" if deleted else None)
    return message


def entity_view(principal: Principal, entity: Entity) -> Viewer:
    """The view of one entity's conversations: admins may ask for anyone in scope, others only themselves."""
    if not sees_company(principal) and entity_of(principal) != entity:
        raise EntityNotFound()
    return Viewer(scope_of(principal), entity)


class LeadGone(Unauthorized):
    code, message = "lead_not_found", "This visitor's registration was deleted; register again"


async def require_live_lead(session: AsyncSession, principal: Principal) -> None:
    """A lead token of a deleted or erased lead acts on nothing (even if its revocation was missed)."""
    if principal.kind != "lead" or principal.lead_id is None:
        return
    lead = await session.get(Lead, principal.lead_id)
    if lead is None or lead.deleted_at is not None or lead.erased_at is not None:
        raise LeadGone()


async def require_entity(session: AsyncSession, viewer: Viewer) -> None:
    """404 unless the entity has a conversation (live or deleted) in the viewer's scope.

    An admin asking for an id that is no one in their company learns nothing: the answer is the
    same as for an id that exists nowhere.
    """
    if viewer.entity is None:
        return
    entity_type, entity_id = viewer.entity
    stmt = select(Conversation.id).where(Conversation.entity_type == entity_type.value,
                                         Conversation.entity_id == entity_id).limit(1)
    if viewer.company_id is not None:
        stmt = stmt.where(Conversation.company_id == viewer.company_id)
    if await session.scalar(stmt) is None:
        raise EntityNotFound()


async def _record(
    session: AsyncSession, data: EventData, *, company_id: uuid.UUID, actor: Actor | None
) -> None:
    event = new_event(data, source=SOURCE, company_id=company_id, actor=actor)
    await record_event(session, shared.outbox, event)


async def create_conversation(
    session: AsyncSession, principal: Principal, body: NewConversation, *, agents: AgentsOwner,
    actor: Actor | None,
) -> tuple[Conversation, AgentView]:
    """Start a conversation of the caller's entity with a live agent of the caller's company."""
    await require_live_lead(session, principal)
    entity_type, entity_id = entity_of(principal)
    agent = await get_agent(session, company_id=scope_of(principal), agent_id=body.agent_id, owner=agents)
    conversation = Conversation(
        id=uuid.uuid4(), company_id=agent.company_id, agent_id=agent.agent_id,
        entity_type=entity_type.value, entity_id=entity_id, title=body.title, status="active",
        conversation_metadata=body.metadata, max_context_length=body.max_context_length,
        message_count=0, total_tokens=0, last_activity=utcnow(),
    )
    session.add(conversation)
    await session.flush()
    created = ConversationCreatedV1(conversation_id=conversation.id, agent_id=agent.agent_id,
                                    entity_type=entity_type.value, entity_id=entity_id)
    await _record(session, created, company_id=agent.company_id, actor=actor)
    return conversation, agent


async def delete_conversation(
    session: AsyncSession, conversation: Conversation, *, actor: Actor | None
) -> int:
    """Soft-delete a conversation and its messages at one instant; how many messages went with it.

    `message_count` stays: the deleted list shows what a restore brings back.
    """
    now = utcnow()
    conversation.deleted_at = now
    count = await repo.soft_delete_messages(session, conversation.id, now)
    deleted = ConversationDeletedV1(conversation_id=conversation.id, agent_id=conversation.agent_id)
    await _record(session, deleted, company_id=conversation.company_id, actor=actor)
    return count


async def restore_conversation(
    session: AsyncSession, conversation: Conversation, *, actor: Actor | None
) -> int:
    """Restore a soft-deleted conversation with the messages deleted with it; how many came back."""
    count = await repo.restore_messages(session, conversation.id, deleted_at=conversation.deleted_at)
    conversation.deleted_at = None
    await _recount(session, conversation)
    restored = ConversationRestoredV1(conversation_id=conversation.id, agent_id=conversation.agent_id)
    await _record(session, restored, company_id=conversation.company_id, actor=actor)
    return count


async def _recount(session: AsyncSession, conversation: Conversation) -> None:
    await session.flush()
    conversation.message_count = await repo.count_live_messages(session, conversation.id)


async def delete_messages(session: AsyncSession, conversation: Conversation) -> int:
    """Soft-delete every live message of a conversation (it stays); how many."""
    count = await repo.soft_delete_messages(session, conversation.id, utcnow())
    await _recount(session, conversation)
    return count


async def restore_messages(session: AsyncSession, conversation: Conversation) -> int:
    """Restore every soft-deleted message of a live conversation; how many."""
    count = await repo.restore_messages(session, conversation.id)
    await _recount(session, conversation)
    return count


async def _locked_parent(session: AsyncSession, message: Message) -> Conversation | None:
    # Locked like every change of a conversation, so the recount cannot miss a chat's new message.
    return await repo.get_conversation(session, message.conversation_id, message.company_id, lock=True)


async def delete_message(session: AsyncSession, message: Message) -> None:
    """Soft-delete one message; its conversation counts one message less."""
    conversation = await _locked_parent(session, message)
    message.deleted_at = utcnow()
    if conversation is not None:
        await _recount(session, conversation)


async def restore_message(session: AsyncSession, message: Message) -> None:
    """Restore one message (400 while its conversation is deleted)."""
    conversation = await _locked_parent(session, message)
    if conversation is None:
        raise ConversationDeleted()
    message.deleted_at = None
    await _recount(session, conversation)
