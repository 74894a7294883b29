"""HTTP API of conversations and messages (chat and streaming live in `chat`): create, list,
read, soft delete and restore.

Who the caller is: a user token is the user; an API key acts as its owner (the key's user);
a lead token is the lead. A conversation belongs to that entity (`entity_type` user | lead).

Who sees what: company admins (and their API keys) see every conversation of the company,
super admins those of any company; other users, non-admins' API keys and leads see only their
own entity's conversations. Anything else answers 404, never 403: another company's
conversation and another user's look the same as one that does not exist. Deleting and
restoring follow the same rule (the owner or an admin).

Scopes: API keys need `read` to read and the method's scope to change (`write` to create,
`delete` to delete, `update` to restore). Malformed ids answer 422 like every other input.
Deleting a conversation soft-deletes its messages at the same instant, and restoring it brings
back exactly those. `message_count` counts the live messages of a live conversation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Role
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page, PageParams, Pagination, pages
from knowrithm_common.queries import Agents
from knowrithm_common.tenancy import MEMBERS, Subject, subject_dependency
from knowrithm_conversations.conversations import service
from knowrithm_conversations.conversations.filters import (
    ConversationFilters,
    agent_conversation_filters,
    conversation_filters,
)
from knowrithm_conversations.conversations.schemas import (
    ConversationCreated,
    ConversationDeleted,
    ConversationDetail,
    ConversationList,
    ConversationOut,
    ConversationRestored,
    DeletedConversations,
    DeletedMessages,
    MessageChanged,
    MessageList,
    MessageOut,
    NewConversation,
    StatusFilter,
)
from knowrithm_conversations.models import AgentView, Conversation, EntityType

router = APIRouter()
CONVERSATIONS: list[str | Enum] = ["Conversations"]
MESSAGES: list[str | Enum] = ["Messages"]

# Who takes part in conversations: members, admins, super admins and leads; API keys holding
# the scope of the intent. (Chat and feedback routes take part the same way.)
PARTICIPANTS = (*MEMBERS, Role.LEAD)
ParticipantRead = Annotated[Subject, Depends(subject_dependency(PARTICIPANTS, "read"))]
ParticipantWrite = Annotated[Subject, Depends(subject_dependency(PARTICIPANTS, "write"))]
ParticipantUpdate = Annotated[Subject, Depends(subject_dependency(PARTICIPANTS, "update"))]
ParticipantDelete = Annotated[Subject, Depends(subject_dependency(PARTICIPANTS, "delete"))]

# The reference API's 50 messages per page.
MessagePage = Annotated[PageParams, pages(default=50, items="Messages")]
Status = Annotated[StatusFilter, Query(description="active | archived | deleted | all")]
Filters = Annotated[ConversationFilters, Depends(conversation_filters)]
AgentFilters = Annotated[ConversationFilters, Depends(agent_conversation_filters)]


def _outs(conversations: Sequence[Conversation], agents: dict[uuid.UUID, AgentView]) -> list[ConversationOut]:
    return [ConversationOut.of(c, agents.get(c.agent_id)) for c in conversations]


def _listed(page: tuple[Sequence[Conversation], dict[uuid.UUID, AgentView], Pagination]) -> ConversationList:
    rows, agents, pagination = page
    return ConversationList(conversations=_outs(rows, agents), pagination=pagination)


@router.post("/api/v1/conversation", status_code=201, response_model=ConversationCreated, tags=CONVERSATIONS,
             responses=errors(404))
async def create_conversation(
    subject: ParticipantWrite, body: NewConversation, session: Session, agents: Agents
) -> ConversationCreated:
    """Start a conversation with one of your company's agents; it belongs to you (or your lead)."""
    conversation, agent = await service.create_conversation(session, subject, body, agents=agents)
    return ConversationCreated(conversation=ConversationOut.of(conversation, agent))


@router.get("/api/v1/conversation", response_model=ConversationList, tags=CONVERSATIONS)
async def list_conversations(
    subject: ParticipantRead, session: Session, page: Page, filters: Filters
) -> ConversationList:
    """Conversations you can see (admins: the company's), filtered, most recently active first."""
    viewer = service.viewer_of(subject)
    return _listed(await service.conversations_page(session, viewer, page, filters=filters))


@router.get("/api/v1/conversation/entity", response_model=ConversationList, tags=CONVERSATIONS)
async def list_own_conversations(subject: ParticipantRead, session: Session, page: Page) -> ConversationList:
    """Your own conversations (as yourself, your key's user, or your lead), admins included."""
    return _listed(await service.conversations_page(session, service.own_view(subject), page))


@router.get("/api/v1/conversation/entity/{entity_id}", response_model=ConversationList, tags=CONVERSATIONS)
async def list_entity_conversations(
    subject: ParticipantRead, entity_id: uuid.UUID, session: Session, page: Page,
    entity_type: EntityType = Query(EntityType.USER, description="user | lead"),
    status: Status = StatusFilter.ACTIVE,
) -> ConversationList:
    """One user's or lead's conversations (admins: anyone in the company; others: only themselves)."""
    return _listed(await service.entity_conversations_page(session, subject, (entity_type, entity_id), page,
                                                           status=status))


@router.get("/api/v1/conversation/agent/{agent_id}", response_model=ConversationList, tags=CONVERSATIONS)
async def list_agent_conversations(
    subject: ParticipantRead, agent_id: uuid.UUID, session: Session, page: Page, agents: Agents,
    filters: AgentFilters, status: Status = StatusFilter.ACTIVE,
) -> ConversationList:
    """The conversations with one agent that you can see, filtered (404 for another company's agent)."""
    return _listed(await service.agent_conversations_page(session, subject, agent_id, page, agents=agents,
                                                          status=status, filters=filters))


@router.get("/api/v1/conversation/deleted", response_model=DeletedConversations, tags=CONVERSATIONS)
async def deleted_conversations(
    subject: ParticipantRead, session: Session, page: Page, filters: Filters
) -> DeletedConversations:
    """Soft-deleted conversations you can see (restorable), filtered, most recently active first."""
    rows, agents, pagination = await service.conversations_page(
        session, service.viewer_of(subject), page, status=StatusFilter.DELETED, filters=filters
    )
    return DeletedConversations(deleted_conversations=_outs(rows, agents), pagination=pagination)


@router.get("/api/v1/conversation/{conversation_id}", response_model=ConversationDetail, tags=CONVERSATIONS)
async def get_conversation(
    subject: ParticipantRead, conversation_id: uuid.UUID, session: Session
) -> ConversationDetail:
    """One conversation with its agent's name and its message count."""
    conversation, agent = await service.conversation_with_agent(session, subject, conversation_id)
    return ConversationDetail(conversation=ConversationOut.of(conversation, agent))


@router.get("/api/v1/conversation/{conversation_id}/messages", response_model=MessageList, tags=MESSAGES)
async def list_messages(
    subject: ParticipantRead, conversation_id: uuid.UUID, session: Session, page: MessagePage
) -> MessageList:
    """A conversation's live messages, oldest first."""
    rows, pagination = await service.messages_page(session, subject, conversation_id, page)
    return MessageList(messages=[MessageOut.of(m) for m in rows], pagination=pagination)


@router.delete("/api/v1/conversation/{conversation_id}", response_model=ConversationDeleted,
               tags=CONVERSATIONS)
async def delete_conversation(
    subject: ParticipantDelete, conversation_id: uuid.UUID, session: Session
) -> ConversationDeleted:
    """Soft-delete a conversation with its messages (restorable)."""
    count = await service.delete_conversation(session, subject, conversation_id)
    return ConversationDeleted(message="Conversation deleted", conversation_id=conversation_id,
                               deleted_messages_count=count)


@router.patch("/api/v1/conversation/{conversation_id}/restore", response_model=ConversationRestored,
              tags=CONVERSATIONS)
async def restore_conversation(
    subject: ParticipantUpdate, conversation_id: uuid.UUID, session: Session
) -> ConversationRestored:
    """Restore a soft-deleted conversation with the messages deleted with it."""
    count = await service.restore_conversation(session, subject, conversation_id)
    return ConversationRestored(message="Conversation restored", conversation_id=conversation_id,
                                restored_messages_count=count)


@router.delete("/api/v1/conversation/{conversation_id}/messages", response_model=ConversationDeleted,
               tags=MESSAGES)
async def delete_all_messages(
    subject: ParticipantDelete, conversation_id: uuid.UUID, session: Session
) -> ConversationDeleted:
    """Soft-delete every message of a conversation (the conversation stays)."""
    count = await service.delete_messages(session, subject, conversation_id)
    return ConversationDeleted(message="Conversation messages deleted", conversation_id=conversation_id,
                               deleted_messages_count=count)


@router.patch("/api/v1/conversation/{conversation_id}/message/restore-all",
              response_model=ConversationRestored, tags=MESSAGES)
async def restore_all_messages(
    subject: ParticipantUpdate, conversation_id: uuid.UUID, session: Session
) -> ConversationRestored:
    """Restore every soft-deleted message of a live conversation."""
    count = await service.restore_messages(session, subject, conversation_id)
    return ConversationRestored(message="Conversation messages restored", conversation_id=conversation_id,
                                restored_messages_count=count)


@router.get("/api/v1/message/deleted", response_model=DeletedMessages, tags=MESSAGES)
async def deleted_messages(subject: ParticipantRead, session: Session, page: MessagePage) -> DeletedMessages:
    """Soft-deleted messages of the conversations you can see, most recently deleted first."""
    rows, pagination = await service.deleted_messages_page(session, subject, page)
    return DeletedMessages(deleted_messages=[MessageOut.of(m) for m in rows], pagination=pagination)


@router.delete("/api/v1/message/{message_id}", response_model=MessageChanged, tags=MESSAGES)
async def delete_message(
    subject: ParticipantDelete, message_id: uuid.UUID, session: Session
) -> MessageChanged:
    """Soft-delete one message (restorable)."""
    await service.delete_message(session, subject, message_id)
    return MessageChanged(message="Message deleted", message_id=message_id)


@router.patch("/api/v1/message/{message_id}/restore", response_model=MessageChanged, tags=MESSAGES,
              responses=errors(400))
async def restore_message(
    subject: ParticipantUpdate, message_id: uuid.UUID, session: Session
) -> MessageChanged:
    """Restore one message (400 while its conversation is deleted)."""
    await service.restore_message(session, subject, message_id)
    return MessageChanged(message="Message restored", message_id=message_id)
