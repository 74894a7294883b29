"""Recent turns of a conversation for the prompt: kept in Redis, rebuilt from Postgres.

Redis holds the last `history_turns` question/answer pairs per conversation as a capped
list; when the key is missing (expired, evicted, Redis flushed) the list is rebuilt from the
messages table, so history never depends on Redis having kept anything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.llm.base import ChatMessage
from knowrithm_conversations.models import Message, MessageRole, MessageStatus

KEY = "conversations:history:{conversation_id}"


class History:
    def __init__(self, redis: Redis, *, turns: int, ttl_seconds: int) -> None:
        self.redis, self.size, self.ttl = redis, turns * 2, ttl_seconds

    async def load(
        self, session: AsyncSession, conversation_id: uuid.UUID, *, exclude: Sequence[uuid.UUID] = ()
    ) -> list[ChatMessage]:
        """The recent turns, oldest first (rebuilt from the database when Redis has none)."""
        key = KEY.format(conversation_id=conversation_id)
        cached = await self.redis.lrange(key, 0, -1)
        if cached:
            return [ChatMessage(**json.loads(item)) for item in cached]
        turns = await self._from_database(session, conversation_id, exclude)
        if turns:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.rpush(key, *[json.dumps({"role": t.role, "content": t.content}) for t in turns])
                pipe.expire(key, self.ttl)
                await pipe.execute()
        return turns

    async def _from_database(
        self, session: AsyncSession, conversation_id: uuid.UUID, exclude: Sequence[uuid.UUID]
    ) -> list[ChatMessage]:
        rows = await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.not_deleted(),
                Message.status == MessageStatus.COMPLETE.value,
                Message.role.in_([MessageRole.USER.value, MessageRole.ASSISTANT.value]),
                Message.id.not_in(list(exclude)) if exclude else Message.id.is_not(None),
            )
            .order_by(Message.created_at.desc())
            .limit(self.size)
        )
        return [ChatMessage(role=m.role, content=m.content) for m in reversed(list(rows))]  # type: ignore[arg-type]

    async def append(self, conversation_id: uuid.UUID, *turns: ChatMessage) -> None:
        """Add a finished question and answer (only if the list exists: else the next load rebuilds it)."""
        key = KEY.format(conversation_id=conversation_id)
        values = [json.dumps({"role": t.role, "content": t.content}) for t in turns]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpushx(key, *values)
            pipe.ltrim(key, -self.size, -1)
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def forget(self, conversation_id: uuid.UUID) -> None:
        await self.redis.delete(KEY.format(conversation_id=conversation_id))
