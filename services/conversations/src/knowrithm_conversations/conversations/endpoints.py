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

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, Role, authenticated, require_roles, require_scopes
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, page_dependency, page_params, paginate
from knowrithm_common.queries import Agents
from knowrithm_common.tenancy import actor_of, scope_of
from knowrithm_conversations.agents_view import get_agent
from knowrithm_conversations.conversations import repository as repo
from knowrithm_conversations.conversations import service
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
from knowrithm_conversations.models import Conversation, EntityType

router = APIRouter()
CONVERSATIONS: list[str | Enum] = ["Conversations"]
MESSAGES: list[str | Enum] = ["Messages"]
Caller = Annotated[Principal, Depends(authenticated)]
Page = Annotated[PageParams, Depends(page_params)]


def participants(scope: str) -> list:
    """Members, admins, super admins and leads; API keys holding `scope`."""
    roles = require_roles(Role.SUPER_ADMIN, Role.ADMIN, Role.USER, Role.LEAD)
    return [Depends(roles), Depends(require_scopes([scope]))]


# Like `page_params`, with the reference API's 50 messages per page.
message_page = page_dependency(per_page=50, items="Messages")


MessagePage = Annotated[PageParams, Depends(message_page)]


async def _outs(session: AsyncSession, conversations: Sequence[Conversation]) -> list[ConversationOut]:
    agents = await repo.agents_by_id(session, (c.agent_id for c in conversations))
    return [ConversationOut.of(c, agents.get(c.agent_id)) for c in conversations]


async def _list(
    session: AsyncSession, viewer: service.Viewer, page: PageParams, *,
    agent_id: uuid.UUID | None = None, status: StatusFilter = StatusFilter.ACTIVE,
) -> ConversationList:
    stmt = repo.conversations_query(viewer.company_id, entity=viewer.entity, agent_id=agent_id, status=status)
    rows, pagination = await paginate(session, stmt, page)
    return ConversationList(conversations=await _outs(session, rows), pagination=pagination)


@router.post("/api/v1/conversation", status_code=201, response_model=ConversationCreated, tags=CONVERSATIONS,
             dependencies=participants("write"), responses=errors(404))
async def create_conversation(
    body: NewConversation, request: Request, session: Session, caller: Caller, agents: Agents
) -> ConversationCreated:
    """Start a conversation with one of your company's agents; it belongs to you (or your lead)."""
    conversation, agent = await service.create_conversation(session, caller, body, agents=agents,
                                                            actor=actor_of(request, caller))
    return ConversationCreated(conversation=ConversationOut.of(conversation, agent))


@router.get("/api/v1/conversation", response_model=ConversationList, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def list_conversations(session: Session, caller: Caller, page: Page) -> ConversationList:
    """Conversations you can see (admins: the company's), most recently active first."""
    return await _list(session, service.viewer_of(caller), page)


@router.get("/api/v1/conversation/entity", response_model=ConversationList, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def list_own_conversations(session: Session, caller: Caller, page: Page) -> ConversationList:
    """Your own conversations (as yourself, your key's user, or your lead), admins included."""
    viewer = service.Viewer(scope_of(caller), service.entity_of(caller))
    return await _list(session, viewer, page)


@router.get("/api/v1/conversation/entity/{entity_id}", response_model=ConversationList, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def list_entity_conversations(
    entity_id: uuid.UUID, session: Session, caller: Caller, page: Page,
    entity_type: EntityType = Query(EntityType.USER, description="user | lead"),
    status: StatusFilter = Query(StatusFilter.ACTIVE, description="active | archived | deleted | all"),
) -> ConversationList:
    """One user's or lead's conversations (admins: anyone in the company; others: only themselves)."""
    viewer = service.entity_view(caller, (entity_type, entity_id))
    await service.require_entity(session, viewer)
    return await _list(session, viewer, page, status=status)


@router.get("/api/v1/conversation/agent/{agent_id}", response_model=ConversationList, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def list_agent_conversations(
    agent_id: uuid.UUID, session: Session, caller: Caller, page: Page, agents: Agents,
    status: StatusFilter = Query(StatusFilter.ACTIVE, description="active | archived | deleted | all"),
) -> ConversationList:
    """The conversations with one agent that you can see (404 for an agent of another company)."""
    agent = await get_agent(session, company_id=scope_of(caller), agent_id=agent_id, owner=agents)
    return await _list(session, service.viewer_of(caller), page, agent_id=agent.agent_id, status=status)


@router.get("/api/v1/conversation/deleted", response_model=DeletedConversations, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def deleted_conversations(session: Session, caller: Caller, page: Page) -> DeletedConversations:
    """Soft-deleted conversations you can see (restorable), most recently active first."""
    viewer = service.viewer_of(caller)
    stmt = repo.conversations_query(viewer.company_id, entity=viewer.entity, status=StatusFilter.DELETED)
    rows, pagination = await paginate(session, stmt, page)
    return DeletedConversations(deleted_conversations=await _outs(session, rows), pagination=pagination)


@router.get("/api/v1/conversation/{conversation_id}", response_model=ConversationDetail, tags=CONVERSATIONS,
            dependencies=participants("read"))
async def get_conversation(
    conversation_id: uuid.UUID, session: Session, caller: Caller
) -> ConversationDetail:
    """One conversation with its agent's name and its message count."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller)
    return ConversationDetail(conversation=(await _outs(session, [conversation]))[0])


@router.get("/api/v1/conversation/{conversation_id}/messages", response_model=MessageList, tags=MESSAGES,
            dependencies=participants("read"))
async def list_messages(
    conversation_id: uuid.UUID, session: Session, caller: Caller, page: MessagePage
) -> MessageList:
    """A conversation's live messages, oldest first."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller)
    stmt = repo.messages_query(conversation.company_id, conversation_id=conversation.id)
    rows, pagination = await paginate(session, stmt, page)
    return MessageList(messages=[MessageOut.of(m) for m in rows], pagination=pagination)


@router.delete("/api/v1/conversation/{conversation_id}", response_model=ConversationDeleted,
               tags=CONVERSATIONS, dependencies=participants("delete"))
async def delete_conversation(
    conversation_id: uuid.UUID, request: Request, session: Session, caller: Caller
) -> ConversationDeleted:
    """Soft-delete a conversation with its messages (restorable)."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller, lock=True)
    count = await service.delete_conversation(session, conversation, actor=actor_of(request, caller))
    return ConversationDeleted(message="Conversation deleted", conversation_id=conversation.id,
                               deleted_messages_count=count)


@router.patch("/api/v1/conversation/{conversation_id}/restore", response_model=ConversationRestored,
              tags=CONVERSATIONS, dependencies=participants("update"))
async def restore_conversation(
    conversation_id: uuid.UUID, request: Request, session: Session, caller: Caller
) -> ConversationRestored:
    """Restore a soft-deleted conversation with the messages deleted with it."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller, deleted=True,
                                                          lock=True)
    count = await service.restore_conversation(session, conversation, actor=actor_of(request, caller))
    return ConversationRestored(message="Conversation restored", conversation_id=conversation.id,
                                restored_messages_count=count)


@router.delete("/api/v1/conversation/{conversation_id}/messages", response_model=ConversationDeleted,
               tags=MESSAGES, dependencies=participants("delete"))
async def delete_all_messages(
    conversation_id: uuid.UUID, session: Session, caller: Caller
) -> ConversationDeleted:
    """Soft-delete every message of a conversation (the conversation stays)."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller, lock=True)
    count = await service.delete_messages(session, conversation)
    return ConversationDeleted(message="Conversation messages deleted", conversation_id=conversation.id,
                               deleted_messages_count=count)


@router.patch("/api/v1/conversation/{conversation_id}/message/restore-all",
              response_model=ConversationRestored, tags=MESSAGES, dependencies=participants("update"))
async def restore_all_messages(
    conversation_id: uuid.UUID, session: Session, caller: Caller
) -> ConversationRestored:
    """Restore every soft-deleted message of a live conversation."""
    conversation = await service.get_visible_conversation(session, conversation_id, caller, lock=True)
    count = await service.restore_messages(session, conversation)
    return ConversationRestored(message="Conversation messages restored", conversation_id=conversation.id,
                                restored_messages_count=count)


@router.get("/api/v1/message/deleted", response_model=DeletedMessages, tags=MESSAGES,
            dependencies=participants("read"))
async def deleted_messages(session: Session, caller: Caller, page: MessagePage) -> DeletedMessages:
    """Soft-deleted messages of the conversations you can see, most recently deleted first."""
    viewer = service.viewer_of(caller)
    stmt = repo.messages_query(viewer.company_id, entity=viewer.entity, deleted=True)
    rows, pagination = await paginate(session, stmt, page)
    return DeletedMessages(deleted_messages=[MessageOut.of(m) for m in rows], pagination=pagination)


@router.delete("/api/v1/message/{message_id}", response_model=MessageChanged, tags=MESSAGES,
               dependencies=participants("delete"))
async def delete_message(message_id: uuid.UUID, session: Session, caller: Caller) -> MessageChanged:
    """Soft-delete one message (restorable)."""
    message = await service.get_visible_message(session, message_id, caller, deleted=False)
    await service.delete_message(session, message)
    return MessageChanged(message="Message deleted", message_id=message.id)


@router.patch("/api/v1/message/{message_id}/restore", response_model=MessageChanged, tags=MESSAGES,
              dependencies=participants("update"), responses=errors(400))
async def restore_message(message_id: uuid.UUID, session: Session, caller: Caller) -> MessageChanged:
    """Restore one message (400 while its conversation is deleted)."""
    message = await service.get_visible_message(session, message_id, caller, deleted=True)
    await service.restore_message(session, message)
    return MessageChanged(message="Message restored", message_id=message.id)
