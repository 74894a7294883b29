"""Answers in the making in this process, and their text so far for a late joiner.

The answerer registers each turn while it generates it (a dict entry per turn, nothing per
token). A stream that joins an answer already streaming asks `conversations.inflight.<answer
id>` for the text so far: every replica holds ONE wildcard subscription to those subjects and
only the replica generating that answer replies, with the text, how many tokens it holds (the
`seq` of the next token) and the attempt. So the cost of catching up is paid on late joins
only. No reply in time means no replica holds the answer (it just finished, or its replica
died and a redelivery will restart it): the caller reads the database instead.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any, Protocol

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from knowrithm_common.messaging.connection import NatsConnection

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "conversations.inflight."


class SoFar(BaseModel):
    """An answer's text so far, as the replica generating it holds it."""

    text: str
    next_seq: int  # the `seq` of the next token event: tokens below it are in `text`
    attempt: int


class InflightTurn(Protocol):
    text: list[str]
    attempt: int


class Inflight:
    """This process's answers in progress, and the replies to 'text so far' requests."""

    def __init__(self, nats: NatsConnection) -> None:
        self.nats = nats
        self._turns: dict[str, InflightTurn] = {}
        self._sub: Any = None

    async def start(self) -> None:
        await self.nats.wait_connected()
        self._sub = await self.nats.client.subscribe(SUBJECT_PREFIX + "*", cb=self._reply)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    def add(self, answer_id: uuid.UUID, turn: InflightTurn) -> None:
        """The answer is being generated here (until `remove`)."""
        self._turns[str(answer_id)] = turn

    def remove(self, answer_id: uuid.UUID) -> None:
        self._turns.pop(str(answer_id), None)

    async def _reply(self, msg: Msg) -> None:
        turn = self._turns.get(msg.subject[len(SUBJECT_PREFIX) :])
        if turn is None or not msg.reply:
            return  # another replica's answer, or nobody's: stay silent, the holder answers
        so_far = SoFar(text="".join(turn.text), next_seq=len(turn.text), attempt=turn.attempt)
        with contextlib.suppress(Exception):
            await msg.respond(so_far.model_dump_json().encode())

    async def text_so_far(self, answer_id: uuid.UUID, *, timeout: float) -> SoFar | None:
        """The text so far of an answer some replica is generating; None when none answers."""
        try:
            msg = await self.nats.client.request(f"{SUBJECT_PREFIX}{answer_id}", b"", timeout=timeout)
        except (NatsTimeout, NoRespondersError, ConnectionError):
            return None
        return SoFar.model_validate_json(msg.data)
