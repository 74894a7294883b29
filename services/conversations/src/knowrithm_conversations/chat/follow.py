"""Following one answer on its conversation's live events, from whenever a client joins.

A client may open an answer's stream before the answer starts, while it streams, or after it
ended (the SDK opens it only once the chat request returned). Whatever it missed comes first,
then the live events, each token exactly once and in order, and the stream ends after the
answer's final event:

- finished: its content as one `token` (`catch_up: true`), then its `completed`/`failed`;
- streaming: the text so far (asked of the replica generating it, inflight.py) as one `token`,
  then the live tokens from the next `seq` on (the ones the text covers are dropped);
- not started: the live events as they come.

The listener is registered before anything is read, so an event published after the read is
in its queue: nothing falls between the catch-up and the live events. When no replica answers
for an answer marked streaming, its text is unknown: live tokens are held back until the
answer (re)starts (a redelivery sends a new `started`, tokens from seq 0) or ends (its final
event's content then stands for the text).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from knowrithm_conversations.chat.deps import Deps
from knowrithm_conversations.chat.streams import Listener, sse
from knowrithm_conversations.chat.views import completed_event, failed_event
from knowrithm_conversations.models import Message, MessageStatus

FINAL_EVENTS = ("completed", "failed")
Out = tuple[str, dict[str, Any]]


def answer_of(event: dict[str, Any]) -> str | None:
    """The id of the answer a stream event is about."""
    data = event.get("data") or {}
    return data.get("message_id") or (data.get("message") or {}).get("id")


def _catch_up_token(answer_id: str, text: str) -> list[Out]:
    return [("token", {"message_id": answer_id, "text": text, "catch_up": True})] if text else []


@dataclass
class Follower:
    """Passes on one answer's live events once each, from where the catch-up left off."""

    answer_id: str
    next_seq: int | None = 0  # None: the text so far is unknown, tokens are held back
    attempt: int = 0  # the attempt the catch-up covered (0: none had started)
    done: bool = False
    missed: list[Out] = field(default_factory=list)  # what the catch-up sends first

    def accept(self, event: dict[str, Any]) -> list[Out]:
        """The events to send for one live event (none for other answers' or covered ones)."""
        if self.done or answer_of(event) != self.answer_id:
            return []
        name, data = event["event"], event["data"]
        if name == "started":
            attempt = int(data.get("attempt") or 0)
            if self.next_seq is not None and attempt <= self.attempt:
                return []  # the start of the very attempt the catch-up covered
            self.attempt, self.next_seq = attempt, 0
            return [(name, data)]
        if name == "token":
            return self._token(data)
        if name in FINAL_EVENTS:
            self.done = True
            if self.next_seq is None:  # the text never reached this stream: the final content does
                message = (data.get("message") or {}) if name == "completed" else data
                return [*_catch_up_token(self.answer_id, message.get("content") or ""), (name, data)]
        return [(name, data)]

    def _token(self, data: dict[str, Any]) -> list[Out]:
        if self.next_seq is None:
            return []
        seq = data.get("seq")
        if isinstance(seq, int):
            if seq < self.next_seq:
                return []  # already in the text so far
            self.next_seq = seq + 1
        return [("token", data)]


def _finished(answer: Message) -> Follower:
    final = ("completed", completed_event(answer)) if answer.status == MessageStatus.COMPLETE.value else (
        "failed", failed_event(answer)
    )
    answer_id = str(answer.id)
    return Follower(answer_id, done=True, missed=[*_catch_up_token(answer_id, answer.content), final])


async def _load(deps: Deps, answer_id: uuid.UUID) -> Message | None:
    async with deps.db.sessions() as session:
        return await session.get(Message, answer_id)


def _is_final(answer: Message) -> bool:
    return answer.status in (MessageStatus.COMPLETE.value, MessageStatus.FAILED.value)


async def catch_up(deps: Deps, answer_id: uuid.UUID) -> Follower:
    """Where a stream joining the answer now starts (call it after the listener is registered)."""
    answer = await _load(deps, answer_id)
    if answer is None:
        return Follower(str(answer_id), done=True)  # erased since the request was checked
    if _is_final(answer):
        return _finished(answer)
    if answer.status == MessageStatus.PENDING.value:
        return Follower(str(answer_id))
    so_far = await deps.inflight.text_so_far(answer_id, timeout=deps.settings.catch_up_timeout_seconds)
    if so_far is not None:
        return Follower(str(answer_id), next_seq=so_far.next_seq, attempt=so_far.attempt,
                        missed=_catch_up_token(str(answer_id), so_far.text))
    answer = await _load(deps, answer_id)  # nobody holds it: it may have just finished
    if answer is not None and _is_final(answer):
        return _finished(answer)
    return Follower(str(answer_id), next_seq=None)


async def relay(
    listener: Listener, follower: Follower, *, deadline: float, heartbeat: float
) -> AsyncIterator[bytes]:
    """The follower's events as SSE until the answer's final event (or the deadline)."""
    loop = asyncio.get_running_loop()
    for name, data in follower.missed:
        yield sse(name, data)
    while not follower.done:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return  # the answer is late: it will be in the messages (and its task) when ready
        try:
            event = await asyncio.wait_for(listener.queue.get(), min(heartbeat, remaining))
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if event is None:
            return  # the service is stopping
        for name, data in follower.accept(event):
            yield sse(name, data)
