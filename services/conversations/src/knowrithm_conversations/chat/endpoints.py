"""Chat: `POST /api/v1/conversation/{id}/chat` and the conversation's SSE stream.

The chat route stores the user's message, queues the answer and its task, then answers 202
with the message ids, `task_id` and `status_url` (the task completes with the answer),
`poll_url` (the messages) and `stream_url`: an absolute URL (BASE_URL, else the origin the
request came in at) of this answer's stream, which serves a client that joins it to the host
and one that joins it to `…/api/v1` alike. A client that wants one blocking call asks for
`text/event-stream` (the answer streams in this response) or `?wait=true` (the final answer as
JSON: 200, or the failure in the shared error shape).

`GET …/messages/stream` delivers every answer of the conversation live to every subscriber,
whichever replica generates it; with `?message_id=` it follows that one answer from whenever
the client joins (what it missed first) and ends after its final event (follow.py). Both start
with a `ready` event and send a comment line every CONVERSATIONS_SSE_HEARTBEAT_SECONDS.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import GatewayTimeout, KnowrithmError
from knowrithm_common.openapi import errors
from knowrithm_common.queries import Agents
from knowrithm_common.tasks import status_url
from knowrithm_conversations.chat import service
from knowrithm_conversations.chat.deps import Deps, get_deps
from knowrithm_conversations.chat.follow import Follower, catch_up, relay
from knowrithm_conversations.chat.streams import Listener, sse
from knowrithm_conversations.conversations.endpoints import ParticipantRead, ParticipantWrite
from knowrithm_conversations.urls import public_url

router = APIRouter(tags=["Conversations"])
Chat = Annotated[Deps, Depends(get_deps)]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ChatBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    message: str = Field(min_length=1, description="The user's message")


class AnswerFailed(KnowrithmError):
    status_code, code, message = 502, "answer_failed", "The agent could not answer"


def stream_path(conversation_id: uuid.UUID, answer_id: uuid.UUID) -> str:
    """The path of one answer's stream."""
    return f"/api/v1/conversation/{conversation_id}/messages/stream?message_id={answer_id}"


# Besides the 202: the answer itself when the caller waits for it, or its events as a stream.
CHAT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "With `wait=true`, the answer (`status` completed, `message`); with "
                         "`Accept: text/event-stream`, the answer's events as they come",
          "content": {"application/json": {}, "text/event-stream": {"schema": {"type": "string"}}}},
    **errors(
        (409, "The agent is not active, or has no settings to answer with"),
        (502, "Waiting (`wait=true`): the agent could not answer"),
        (504, "Waiting (`wait=true`): no answer within CONVERSATIONS_CHAT_WAIT_SECONDS (it comes later)"),
    ),
}


@router.post("/api/v1/conversation/{conversation_id}/chat", status_code=202,
             responses=CHAT_ANSWERS)
async def chat(
    subject: ParticipantWrite,
    conversation_id: uuid.UUID,
    body: ChatBody,
    request: Request,
    session: Session,
    deps: Chat,
    agents: Agents,
    wait: bool = Query(False, description="Answer with the final message as JSON instead of 202"),
) -> Any:
    """Send a message; the agent's answer is generated in the background (or streamed / awaited here)."""
    queued = await service.ask(session, subject, conversation_id, body.message,
                               limit=deps.settings.max_message_chars, agents=agents)
    conversation, answer = queued.conversation, queued.answer
    accepted = {
        "status": "queued",
        "conversation_id": str(conversation.id),
        "message_id": str(queued.question.id),
        "assistant_message_id": str(answer.id),
        "task_id": str(queued.task_id),
        "status_url": status_url(queued.task_id),
        "poll_url": f"/api/v1/conversation/{conversation.id}/messages",
        "stream_url": public_url(request, deps.settings.base_url, stream_path(conversation.id, answer.id)),
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


async def _final_event(queue: asyncio.Queue, answer_id: uuid.UUID, timeout: float) -> dict[str, Any]:
    follower = Follower(str(answer_id))
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = await queue.get()
                if event is None:
                    raise GatewayTimeout(
                        "The service is shutting down; the answer will appear in the messages"
                    )
                follower.accept(event)
                if follower.done:
                    return event
    except TimeoutError as exc:
        raise GatewayTimeout("The answer took too long; it will appear in the messages when ready") from exc


def _deadline(deps: Deps) -> float:
    return asyncio.get_running_loop().time() + deps.settings.chat_wait_seconds


async def _answer_events(
    listener: Listener,
    answer_id: uuid.UUID,
    accepted: dict[str, Any],
    deps: Deps,
) -> AsyncIterator[bytes]:
    with listener:  # listening since before the answer was queued: nothing to catch up
        yield sse("queued", accepted)
        follower = Follower(str(answer_id))
        heartbeat = deps.settings.sse_heartbeat_seconds
        async for chunk in relay(listener, follower, deadline=_deadline(deps), heartbeat=heartbeat):
            yield chunk


@router.get("/api/v1/conversation/{conversation_id}/messages/stream")
async def stream(
    subject: ParticipantRead,
    conversation_id: uuid.UUID,
    session: Session,
    deps: Chat,
    message_id: uuid.UUID | None = Query(
        None, description="Follow this answer only: what was missed first, then live, until its final event"
    ),
) -> StreamingResponse:
    """Server-Sent Events of the conversation: tokens as they are generated, then each final message."""
    conversation, answer = await service.followed_answer(session, subject, conversation_id, message_id)
    events = _live(conversation.id, deps) if answer is None else _one_answer(conversation.id, answer.id, deps)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


async def _one_answer(
    conversation_id: uuid.UUID, answer_id: uuid.UUID, deps: Deps
) -> AsyncIterator[bytes]:
    with deps.hub.listen(conversation_id) as listener:  # first: then nothing falls between
        yield sse("ready", {"conversation_id": str(conversation_id), "message_id": str(answer_id)})
        follower = await catch_up(deps, answer_id)
        heartbeat = deps.settings.sse_heartbeat_seconds
        async for chunk in relay(listener, follower, deadline=_deadline(deps), heartbeat=heartbeat):
            yield chunk


async def _live(conversation_id: uuid.UUID, deps: Deps) -> AsyncIterator[bytes]:
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
