"""Chat use cases: ask a question in a conversation (the question, its pending answer and the
answer's task stored, the answer's job queued, all leaving with the request's commit), find the
answer a stream follows, and record each stored message's event (here for questions, by the
answerer for answers).

Services flush, never commit; the job and the events ride in the same transaction (outbox).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import ValidationFailed
from knowrithm_common.events import Actor
from knowrithm_common.events.conversations import AnswerMessage, MessageCreatedV1
from knowrithm_common.queries import AgentsOwner
from knowrithm_common.tenancy import Subject
from knowrithm_conversations.agents.view import get_agent, ready_to_answer
from knowrithm_conversations.chat.answer_task import CHAT, create_answer_task
from knowrithm_conversations.conversations.service import MessageNotFound, get_visible_conversation
from knowrithm_conversations.models import Conversation, Message, MessageRole, MessageStatus, outbox


class MessageTooLong(ValidationFailed):
    code = "message_too_long"


@dataclass(frozen=True, slots=True)
class Queued:
    """A question stored with its pending answer, the answer's task and job."""

    conversation: Conversation
    question: Message
    answer: Message
    task_id: uuid.UUID


def check_length(text: str, *, limit: int, what: str = "message") -> None:
    """422 `message_too_long` for a text past CONVERSATIONS_MAX_MESSAGE_CHARS."""
    if len(text) > limit:
        raise MessageTooLong(f"The {what} is longer than {limit} characters")


def _message(
    conversation: Conversation, role: MessageRole, status: MessageStatus, **fields: object
) -> Message:
    return Message(id=uuid.uuid4(), conversation_id=conversation.id, company_id=conversation.company_id,
                   agent_id=conversation.agent_id, role=role.value, status=status.value, **fields)


async def queue_question(
    session: AsyncSession, conversation: Conversation, text: str, *, actor: Actor | None,
    task_kind: str = CHAT,
) -> Queued:
    """Store the question, the pending answer and its task, and queue the answer's job (with the commit)."""
    question = _message(conversation, MessageRole.USER, MessageStatus.COMPLETE, content=text)
    session.add(question)
    await session.flush()
    answer = _message(conversation, MessageRole.ASSISTANT, MessageStatus.PENDING, content="",
                      reply_to=question.id)
    answer.created_at = utcnow()  # strictly after the question, so history and lists keep the order
    session.add(answer)
    task_id = await create_answer_task(session, answer, kind=task_kind)
    conversation.message_count += 1
    conversation.last_activity = utcnow()
    await record_message_event(session, question)
    job = AnswerMessage(
        conversation_id=conversation.id, user_message_id=question.id, assistant_message_id=answer.id
    )
    await outbox.add(session, job, company_id=conversation.company_id, actor=actor)
    return Queued(conversation, question, answer, task_id)


async def ask(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID, text: str, *, limit: int,
    agents: AgentsOwner,
) -> Queued:
    """Ask in a conversation the caller sees, of an agent that can answer now: the turn, queued."""
    check_length(text, limit=limit)
    conversation = await get_visible_conversation(session, conversation_id, subject)
    await get_agent(session, company_id=conversation.company_id, agent_id=conversation.agent_id, owner=agents,
                    check=ready_to_answer)
    return await queue_question(session, conversation, text, actor=subject.actor)


async def followed_answer(
    session: AsyncSession, subject: Subject, conversation_id: uuid.UUID, answer_id: uuid.UUID | None
) -> tuple[Conversation, Message | None]:
    """The conversation a stream follows and, when named, its answer (404 `message_not_found`
    for an id that is no answer of this conversation)."""
    conversation = await get_visible_conversation(session, conversation_id, subject)
    if answer_id is None:
        return conversation, None
    answer = await session.get(Message, answer_id)
    if answer is None or not _answers_in(answer, conversation):
        raise MessageNotFound("No answer with this id in the conversation")
    return conversation, answer


def _answers_in(message: Message, conversation: Conversation) -> bool:
    return message.conversation_id == conversation.id and message.role == MessageRole.ASSISTANT.value


async def record_message_event(session: AsyncSession, message: Message) -> None:
    """`conversations.message.created.v1` of a stored question, or of an answer made final."""
    event = MessageCreatedV1(
        message_id=message.id,
        conversation_id=message.conversation_id,
        agent_id=message.agent_id,
        role=message.role,
        status=message.status,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        latency_ms=message.latency_ms,
        first_token_ms=message.first_token_ms,
        model=message.model_used,
        citations=len(message.citations or []),
        error_code=message.error_code,
    )
    await outbox.add(session, event, company_id=message.company_id)
