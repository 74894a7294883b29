"""Events published by the conversations service, and the job its answerers run."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from knowrithm_common.events.envelope import EventData
from knowrithm_common.events.ingestion import JobData


class ConversationCreatedV1(EventData):
    """A conversation was started with an agent by a user, an API key's user or a lead."""

    event_type: ClassVar[str] = "conversations.conversation.created.v1"

    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    entity_type: str
    entity_id: uuid.UUID


class ConversationDeletedV1(EventData):
    event_type: ClassVar[str] = "conversations.conversation.deleted.v1"

    conversation_id: uuid.UUID
    agent_id: uuid.UUID


class ConversationRestoredV1(EventData):
    event_type: ClassVar[str] = "conversations.conversation.restored.v1"

    conversation_id: uuid.UUID
    agent_id: uuid.UUID


class MessageCreatedV1(EventData):
    """A message was stored: a user's, or an agent's answer (`status` complete or failed)."""

    event_type: ClassVar[str] = "conversations.message.created.v1"

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    role: str
    status: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int | None = Field(None, description="question stored → answer complete")
    first_token_ms: int | None = Field(None, description="answer started → first token")
    model: str | None = None
    citations: int = 0
    error_code: str | None = None


class AnswerMessage(JobData):
    """Generate the agent's answer to a user message (any replica's answerer takes it)."""

    event_type: ClassVar[str] = "conversations.message.answer.v1"

    conversation_id: uuid.UUID
    user_message_id: uuid.UUID
    assistant_message_id: uuid.UUID
