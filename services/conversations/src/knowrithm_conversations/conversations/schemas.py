"""Request and response models of the Conversations and Messages API (field names as the
reference API's: `conversations` + `pagination`, `deleted_messages`, `processing_time` in seconds)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from knowrithm_common.pagination import Pagination
from knowrithm_conversations.models import AgentView, Conversation, Message


class StatusFilter(StrEnum):
    """Which conversations a list shows: live ones (active or archived), deleted ones, or all."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    DELETED = "deleted"
    ALL = "all"


class NewConversation(BaseModel):
    agent_id: uuid.UUID = Field(description="The agent to talk to (one of your company's)")
    title: str = Field("New Conversation", min_length=1, max_length=255)
    metadata: dict[str, Any] = Field(default_factory=dict)
    max_context_length: int = Field(4000, ge=1000, le=1_000_000, description="Tokens of context kept")


class AgentBrief(BaseModel):
    """The conversation's agent, as far as a list needs it."""

    id: uuid.UUID
    name: str
    avatar_url: str | None
    status: str

    @classmethod
    def of(cls, agent: AgentView) -> AgentBrief:
        return cls(id=agent.agent_id, name=agent.name, avatar_url=agent.avatar_url, status=agent.status)


class ConversationOut(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    agent: AgentBrief | None = Field(None, description="null when the agent is unknown here")
    entity_type: str = Field(description="user | lead: who the conversation belongs to")
    entity_id: uuid.UUID
    title: str
    status: str
    metadata: dict[str, Any]
    message_count: int = Field(description="messages that are not deleted")
    total_tokens: int
    last_activity: dt.datetime | None
    max_context_length: int
    context_strategy: str = "sliding_window"
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None

    @classmethod
    def of(cls, conversation: Conversation, agent: AgentView | None = None) -> ConversationOut:
        skip = {"agent", "metadata", "context_strategy", "is_active"}
        fields = {k: getattr(conversation, k) for k in cls.model_fields if k not in skip}
        return cls(
            agent=AgentBrief.of(agent) if agent is not None else None,
            metadata=conversation.conversation_metadata,
            is_active=conversation.deleted_at is None,
            **fields,
        )


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    role: str = Field(description="user | assistant | system")
    content: str
    content_type: str = "text"
    status: str = Field(description="pending | streaming | complete | failed")
    reply_to: uuid.UUID | None = Field(description="the user message an assistant message answers")
    citations: list[dict[str, Any]]
    metadata: dict[str, Any]
    tokens_used: int
    input_tokens: int
    output_tokens: int
    model_used: str | None
    processing_time: float | None = Field(description="seconds from the question to the complete answer")
    confidence_score: float | None
    error_code: str | None
    error: str | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        skip = {"content_type", "metadata", "tokens_used", "processing_time", "is_active"}
        fields = {k: getattr(message, k) for k in cls.model_fields if k not in skip}
        latency = message.latency_ms
        return cls(
            metadata=message.message_metadata,
            tokens_used=message.input_tokens + message.output_tokens,
            processing_time=latency / 1000 if latency is not None else None,
            is_active=message.deleted_at is None,
            **fields,
        )


class ConversationCreated(BaseModel):
    conversation: ConversationOut


class ConversationDetail(BaseModel):
    conversation: ConversationOut


class ConversationList(BaseModel):
    conversations: list[ConversationOut]
    pagination: Pagination


class DeletedConversations(BaseModel):
    deleted_conversations: list[ConversationOut]
    pagination: Pagination


class MessageList(BaseModel):
    messages: list[MessageOut]
    pagination: Pagination


class DeletedMessages(BaseModel):
    deleted_messages: list[MessageOut]
    pagination: Pagination


class ConversationDeleted(BaseModel):
    message: str
    conversation_id: uuid.UUID
    deleted_messages_count: int


class ConversationRestored(BaseModel):
    message: str
    conversation_id: uuid.UUID
    restored_messages_count: int


class MessageChanged(BaseModel):
    message: str
    message_id: uuid.UUID
