"""Chat: `POST /api/v1/conversation/{id}/chat` and the conversation's SSE stream.

The chat route stores the user's message and queues the answer, then answers 202 with the
message id, `poll_url` and `stream_url`. A client that wants one blocking call asks for
`text/event-stream` (the answer streams in this response) or `?wait=true` (the final answer as
JSON: 200, or the failure in the shared error shape). `GET …/messages/stream` delivers every
answer of the conversation live to every subscriber, whichever replica generates it; it
starts with a `ready` event and sends a comment line every CONVERSATIONS_SSE_HEARTBEAT_SECONDS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import GatewayTimeout, KnowrithmError, ValidationFailed
from knowrithm_common.events import new_event
from knowrithm_common.events.conversations import AnswerMessage
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.tenancy import actor_of
from knowrithm_conversations.agents_view import Agents, get_agent, ready_to_answer
from knowrithm_conversations.chat.deps import ChatDeps, get_chat
from knowrithm_conversations.chat.pipeline import SOURCE, record_message_event
from knowrithm_conversations.chat.streams import Listener, sse
from knowrithm_conversations.conversations.service import get_visible_conversation
from knowrithm_conversations.models import Conversation, Message, MessageRole, MessageStatus, platform

router = APIRouter()
TAGS: list[str | Enum] = ["Conversations"]
Caller = Annotated[Principal, Depends(authenticated)]
Chat = Annotated[ChatDeps, Depends(get_chat)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChatBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    message: str = Field(min_length=1, description="The user's message")


class MessageTooLong(ValidationFailed):
    code = "message_too_long"


class AnswerFailed(KnowrithmError):
    status_code, code, message = 502, "answer_failed", "The agent could not answer"


async def store_question(
    session: Session, conversation: Conversation, text: str, caller: Principal, request: Request
) -> tuple[Message, Message]:
    """Store the user's message and the pending answer, and queue the answer's job (with the commit)."""
    question = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        company_id=conversation.company_id,
        agent_id=conversation.agent_id,
        role=MessageRole.USER.value,
        content=text,
        status=MessageStatus.COMPLETE.value,
    )
    answer = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        company_id=conversation.company_id,
        agent_id=conversation.agent_id,
        role=MessageRole.ASSISTANT.value,
        content="",
        status=MessageStatus.PENDING.value,
        reply_to=question.id,
    )
    session.add(question)
    await session.flush()
    answer.created_at = utcnow()  # strictly after the question, so history and lists keep the order
    session.add(answer)
    conversation.message_count += 1
    conversation.last_activity = utcnow()
    await record_message_event(session, question, conversation.company_id)
    job = AnswerMessage(
        conversation_id=conversation.id, user_message_id=question.id, assistant_message_id=answer.id
    )
    envelope = new_event(
        job, source=SOURCE, company_id=conversation.company_id, actor=actor_of(request, caller)
    )
    await record_event(session, platform.outbox, envelope, subject=AnswerMessage.subject())
    return question, answer


@router.post("/api/v1/conversation/{conversation_id}/chat", status_code=202, tags=TAGS)
async def chat(
    conversation_id: uuid.UUID,
    body: ChatBody,
    request: Request,
    session: Session,
    caller: Caller,
    deps: Chat,
    agents: Agents,
    wait: bool = Query(False, description="Answer with the final message as JSON instead of 202"),
) -> Any:
    """Send a message; the agent's answer is generated in the background (or streamed / awaited here)."""
    if len(body.message) > deps.settings.max_message_chars:
        raise MessageTooLong(f"The message is longer than {deps.settings.max_message_chars} characters")
    conversation = await get_visible_conversation(session, conversation_id, caller)
    await get_agent(session, company_id=conversation.company_id, agent_id=conversation.agent_id, owner=agents,
                    check=ready_to_answer)
    question, answer = await store_question(session, conversation, body.message, caller, request)
    accepted = {
        "status": "queued",
        "conversation_id": str(conversation.id),
        "message_id": str(question.id),
        "assistant_message_id": str(answer.id),
        "poll_url": f"/api/v1/conversation/{conversation.id}/messages",
        "stream_url": f"/api/v1/conversation/{conversation.id}/messages/stream",
    }
    streaming = "text/event-stream" in request.headers.get("accept", "")
    if not (streaming or wait):
        return JSONResponse(accepted, status_code=202)
    listener = deps.hub.listen(conversation.id)  # before the commit: no event of this answer is missed
    try:
        await session.commit()  # the answer job leaves with this commit; we wait for its events here
    except BaseException:
        listener.close()
        raise
    if streaming:
        return StreamingResponse(
            _answer_events(listener, answer.id, accepted, deps),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    with listener:
        final = await _final_event(listener.queue, answer.id, deps.settings.chat_wait_seconds)
    if final["event"] == "failed":
        raise AnswerFailed(final["data"]["message"], detail={"error": final["data"]["error"], **accepted})
    return JSONResponse({**accepted, "status": "completed", "message": final["data"]["message"]})


def _is_final(event: dict[str, Any], answer_id: uuid.UUID) -> bool:
    data = event.get("data", {})
    return event.get("event") in ("completed", "failed") and (
        data.get("message_id") == str(answer_id) or data.get("message", {}).get("id") == str(answer_id)
    )


async def _final_event(queue: asyncio.Queue, answer_id: uuid.UUID, timeout: float) -> dict[str, Any]:
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = await queue.get()
                if event is None:
                    raise GatewayTimeout(
                        "The service is shutting down; the answer will appear in the messages"
                    )
                if _is_final(event, answer_id):
                    return event
    except TimeoutError as exc:
        raise GatewayTimeout("The answer took too long; it will appear in the messages when ready") from exc


async def _answer_events(
    listener: Listener,
    answer_id: uuid.UUID,
    accepted: dict[str, Any],
    deps: ChatDeps,
) -> AsyncIterator[bytes]:
    queue = listener.queue
    with listener:
        yield sse("queued", accepted)
        async with asyncio.timeout(deps.settings.chat_wait_seconds):
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield sse(event["event"], event["data"])
                if _is_final(event, answer_id):
                    return


@router.get("/api/v1/conversation/{conversation_id}/messages/stream", tags=TAGS)
async def stream(
    conversation_id: uuid.UUID, session: Session, caller: Caller, deps: Chat
) -> StreamingResponse:
    """Server-Sent Events of the conversation: tokens as they are generated, then each final message."""
    conversation = await get_visible_conversation(session, conversation_id, caller)
    return StreamingResponse(
        _live(conversation.id, deps), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def _live(conversation_id: uuid.UUID, deps: ChatDeps) -> AsyncIterator[bytes]:
    with deps.hub.listen(conversation_id) as listener:
        queue = listener.queue
        yield sse("ready", {"conversation_id": str(conversation_id)})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), deps.settings.sse_heartbeat_seconds)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is None:
                return
            yield sse(event["event"], event["data"])
