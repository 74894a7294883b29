"""Conversation use cases: who the caller is and what they see, create, soft delete and restore
conversations and messages, keeping `message_count` equal to the live messages.

Callers come as a `Subject` (knowrithm_common.tenancy): the company the request acts on
(None: a super admin's every company) and the principal whose entity it is.

Services flush, never commit (the request's session is the commit point); events go to the
outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import BadRequest, Forbidden, NotFound, Unauthorized
from knowrithm_common.events.conversations import (
    ConversationCreatedV1,
    ConversationDeletedV1,
    ConversationRestoredV1,
)
from knowrithm_common.identity import Principal, Role
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_common.queries import AgentsOwner
from knowrithm_common.tenancy import Subject
from knowrithm_conversations.agents.view import get_agent
from knowrithm_conversations.conversations import repository as repo
from knowrithm_conversations.conversations.filters import ConversationFilters
from knowrithm_conversations.conversations.repository import Entity
from knowrithm_conversations.conversations.schemas import NewConversation, StatusFilter
from knowrithm_conversations.models import AgentView, Conversation, EntityType, Lead, Message, outbox


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


def viewer_of(subject: Subject) -> Viewer:
    """The caller's view of conversations."""
    principal = subject.principal
    return Viewer(subject.company_id, None if sees_company(principal) else entity_of(principal))


def own_view(subject: Subject) -> Viewer:
    """The caller's own conversations (as themselves, their key's user, or their lead), admins too."""
    return Viewer(subject.company_id, entity_of(subject.principal))


async def get_visible_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, subject: Subject, *, deleted: bool = False,
    lock: bool = False,
) -> Conversation:
    """A conversation the caller may see (live, or soft-deleted with `deleted=True`); 404 otherwise."""
    await require_live_lead(session, subject.principal)
    viewer = viewer_of(subject)
    conversation = await repo.get_conversation(
        session, conversation_id, viewer.company_id, entity=viewer.entity, deleted=deleted, lock=lock
    )
    if conversation is None:
        raise ConversationNotFound("Deleted conversation not found" if deleted else None)
    return conversation


async def conversation_with_agent(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID
) -> tuple[Conversation, AgentView | None]:
    """A conversation the caller may see, with its agent (None when unknown here); 404 otherwise."""
    conversation = await get_visible_conversation(session, conversation_id, subject)
    agents = await repo.agents_by_id(session, [conversation.agent_id])
    return conversation, agents.get(conversation.agent_id)


async def get_visible_message(
    session: AsyncSession, message_id: uuid.UUID, subject: Subject, *, deleted: bool
) -> Message:
    """A live (or soft-deleted) message of a conversation the caller may see; 404 otherwise."""
    viewer = viewer_of(subject)
    message = await repo.get_message(session, message_id, viewer.company_id, entity=viewer.entity,
                                     deleted=deleted)
    if message is None:
        raise MessageNotFound("Deleted message not found" if deleted else None)
    return message


def entity_view(subject: Subject, entity: Entity) -> Viewer:
    """The view of one entity's conversations: admins may ask for anyone in scope, others only themselves."""
    principal = subject.principal
    if not sees_company(principal) and entity_of(principal) != entity:
        raise EntityNotFound()
    return Viewer(subject.company_id, entity)


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
    if not await repo.has_conversation(session, viewer.company_id, viewer.entity):
        raise EntityNotFound()


async def conversations_page(
    session: AsyncSession, viewer: Viewer, page: PageParams, *, agent_id: uuid.UUID | None = None,
    status: StatusFilter = StatusFilter.ACTIVE, filters: ConversationFilters | None = None,
) -> tuple[list[Conversation], dict[uuid.UUID, AgentView], Pagination]:
    """One page of the conversations the viewer sees (filtered), most recently active first, with
    their agents."""
    rows, pagination = await repo.conversations_page(
        session, viewer.company_id, page, entity=viewer.entity, agent_id=agent_id, status=status,
        filters=filters,
    )
    return list(rows), await repo.agents_by_id(session, (c.agent_id for c in rows)), pagination


async def agent_conversations_page(
    session: AsyncSession, subject: Subject, agent_id: uuid.UUID, page: PageParams, *, agents: AgentsOwner,
    status: StatusFilter, filters: ConversationFilters | None = None,
) -> tuple[list[Conversation], dict[uuid.UUID, AgentView], Pagination]:
    """The conversations with one agent of the caller's company that the caller sees (404 otherwise)."""
    agent = await get_agent(session, company_id=subject.company_id, agent_id=agent_id, owner=agents)
    return await conversations_page(session, viewer_of(subject), page, agent_id=agent.agent_id, status=status,
                                    filters=filters)


async def entity_conversations_page(
    session: AsyncSession, subject: Subject, entity: Entity, page: PageParams, *, status: StatusFilter
) -> tuple[list[Conversation], dict[uuid.UUID, AgentView], Pagination]:
    """One user's or lead's conversations (admins: anyone in the company; others: only themselves)."""
    viewer = entity_view(subject, entity)
    await require_entity(session, viewer)
    return await conversations_page(session, viewer, page, status=status)


async def create_conversation(
    session: AsyncSession, subject: Subject, body: NewConversation, *, agents: AgentsOwner
) -> tuple[Conversation, AgentView]:
    """Start a conversation of the caller's entity with a live agent of the caller's company."""
    principal = subject.principal
    await require_live_lead(session, principal)
    entity_type, entity_id = entity_of(principal)
    agent = await get_agent(session, company_id=subject.company_id, agent_id=body.agent_id, owner=agents)
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
    await outbox.add(session, created, company_id=agent.company_id, actor=subject.actor)
    return conversation, agent


async def delete_conversation(session: AsyncSession, subject: Subject, conversation_id: uuid.UUID) -> int:
    """Soft-delete a conversation and its messages at one instant; how many messages went with it.

    `message_count` stays: the deleted list shows what a restore brings back.
    """
    conversation = await get_visible_conversation(session, conversation_id, subject, lock=True)
    now = utcnow()
    conversation.deleted_at = now
    count = await repo.soft_delete_messages(session, conversation.id, now)
    deleted = ConversationDeletedV1(conversation_id=conversation.id, agent_id=conversation.agent_id)
    await outbox.add(session, deleted, company_id=conversation.company_id, actor=subject.actor)
    return count


async def restore_conversation(session: AsyncSession, subject: Subject, conversation_id: uuid.UUID) -> int:
    """Restore a soft-deleted conversation with the messages deleted with it; how many came back."""
    conversation = await get_visible_conversation(session, conversation_id, subject, deleted=True, lock=True)
    count = await repo.restore_messages(session, conversation.id, deleted_at=conversation.deleted_at)
    conversation.deleted_at = None
    await _recount(session, conversation)
    restored = ConversationRestoredV1(conversation_id=conversation.id, agent_id=conversation.agent_id)
    await outbox.add(session, restored, company_id=conversation.company_id, actor=subject.actor)
    return count


async def _recount(session: AsyncSession, conversation: Conversation) -> None:
    await session.flush()
    conversation.message_count = await repo.count_live_messages(session, conversation.id)


async def delete_messages(session: AsyncSession, subject: Subject, conversation_id: uuid.UUID) -> int:
    """Soft-delete every live message of a conversation (it stays); how many."""
    conversation = await get_visible_conversation(session, conversation_id, subject, lock=True)
    count = await repo.soft_delete_messages(session, conversation.id, utcnow())
    await _recount(session, conversation)
    return count


async def restore_messages(session: AsyncSession, subject: Subject, conversation_id: uuid.UUID) -> int:
    """Restore every soft-deleted message of a live conversation; how many."""
    conversation = await get_visible_conversation(session, conversation_id, subject, lock=True)
    count = await repo.restore_messages(session, conversation.id)
    await _recount(session, conversation)
    return count


async def messages_page(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Message], Pagination]:
    """One page of a visible conversation's live messages, oldest first."""
    conversation = await get_visible_conversation(session, conversation_id, subject)
    return await repo.messages_page(session, conversation.company_id, page, conversation_id=conversation.id)


async def deleted_messages_page(
    session: AsyncSession, subject: Subject, page: PageParams
) -> tuple[Sequence[Message], Pagination]:
    """One page of the soft-deleted messages of the conversations the caller sees."""
    viewer = viewer_of(subject)
    return await repo.messages_page(session, viewer.company_id, page, entity=viewer.entity, deleted=True)


async def _locked_parent(session: AsyncSession, message: Message) -> Conversation | None:
    # Locked like every change of a conversation, so the recount cannot miss a chat's new message.
    return await repo.get_conversation(session, message.conversation_id, message.company_id, lock=True)


async def delete_message(session: AsyncSession, subject: Subject, message_id: uuid.UUID) -> None:
    """Soft-delete one message; its conversation counts one message less."""
    message = await get_visible_message(session, message_id, subject, deleted=False)
    conversation = await _locked_parent(session, message)
    message.deleted_at = utcnow()
    if conversation is not None:
        await _recount(session, conversation)


async def restore_message(session: AsyncSession, subject: Subject, message_id: uuid.UUID) -> None:
    """Restore one message (400 while its conversation is deleted)."""
    message = await get_visible_message(session, message_id, subject, deleted=True)
    conversation = await _locked_parent(session, message)
    if conversation is None:
        raise ConversationDeleted()
    message.deleted_at = None
    await _recount(session, conversation)
