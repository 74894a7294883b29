"""Events published by the conversations service, and the job its answerers run."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from knowrithm_common.events.envelope import EventData
from knowrithm_common.events.ingestion import JobData


class ConversationRef(BaseModel):
    """The conversation an event is about, and its agent (the first fields of conversation events)."""

    conversation_id: uuid.UUID
    agent_id: uuid.UUID


class ConversationCreatedV1(ConversationRef, EventData):
    """A conversation was started with an agent by a user, an API key's user or a lead."""

    event_type: ClassVar[str] = "conversations.conversation.created.v1"

    entity_type: str
    entity_id: uuid.UUID


class ConversationDeletedV1(ConversationRef, EventData):
    """A conversation was soft-deleted (restorable); its messages leave the analytics."""

    event_type: ClassVar[str] = "conversations.conversation.deleted.v1"


class ConversationRestoredV1(ConversationRef, EventData):
    """A soft-deleted conversation was restored."""

    event_type: ClassVar[str] = "conversations.conversation.restored.v1"


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


# --- leads and feedback. No personal data here (no names, emails or phones): events travel
# to every consumer and outlive a GDPR erasure; ids and statuses are enough to count and link.


class LeadRegisteredV1(EventData):
    """A lead was recorded: a widget visitor registered (`channel` widget) or an admin added one."""

    event_type: ClassVar[str] = "conversations.lead.registered.v1"

    lead_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = Field(None, description="the conversation started with it, if any")
    channel: str = Field(description="widget | admin")
    source: str | None = None
    status: str
    consent_marketing: bool = False


class LeadUpdatedV1(EventData):
    """A lead's details or status changed; `changed` names the fields, never their values."""

    event_type: ClassVar[str] = "conversations.lead.updated.v1"

    lead_id: uuid.UUID
    status: str
    previous_status: str
    changed: list[str] = Field(default_factory=list)


class LeadConvertedV1(EventData):
    """A lead's status became `converted`."""

    event_type: ClassVar[str] = "conversations.lead.converted.v1"

    lead_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    previous_status: str


class LeadDeletedV1(EventData):
    """A lead was deleted (soft), or erased with its conversations (`erased`, GDPR)."""

    event_type: ClassVar[str] = "conversations.lead.deleted.v1"

    lead_id: uuid.UUID
    erased: bool = False
    conversations_deleted: int = 0
    messages_deleted: int = 0


class FeedbackGivenV1(EventData):
    """Feedback on an answer (`message_id`) or on a whole conversation; the comment itself stays home."""

    event_type: ClassVar[str] = "conversations.feedback.given.v1"

    feedback_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None = None
    agent_id: uuid.UUID
    entity_type: str
    rating: int | None = Field(None, ge=1, le=5)
    thumbs: Literal["up", "down"] | None = None
    has_comment: bool = False
