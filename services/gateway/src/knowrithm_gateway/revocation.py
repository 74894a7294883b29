"""Revocation lookups: every request asks Redis, concurrent requests share one round trip.

A request whose lookup finds nothing in flight goes at once (no added latency when idle);
lookups that arrive while one is in flight queue and leave together as a single MGET when it
returns. Under load that turns N round trips (and N Redis commands) into a few.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis

Values = list[bytes | str | None]  # str only if a caller's client decodes responses


class BatchedMget:
    """MGET with concurrent callers coalesced into one command per round trip."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[tuple[Sequence[str], asyncio.Future[Values]]] = []
        self._busy = False
        self._sending: asyncio.Future[None] | None = None  # held so the task is not collected

    async def mget(self, keys: Sequence[str]) -> Values:
        """The values of `keys` (None where missing), as one MGET would answer."""
        if not self._busy:
            self._busy = True
            try:
                return list(await self._redis.mget(keys))
            finally:
                self._busy = False
                self._send_queued()
        future: asyncio.Future[Values] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, future))
        return await future

    def _send_queued(self) -> None:
        if self._queue and not self._busy:
            batch, self._queue = self._queue, []
            self._busy = True
            self._sending = asyncio.ensure_future(self._send(batch))

    async def _send(self, batch: list[tuple[Sequence[str], asyncio.Future[Values]]]) -> None:
        try:
            values = await self._redis.mget([key for keys, _ in batch for key in keys])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            offset = 0
            for keys, future in batch:
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(list(values[offset : offset + len(keys)]))
                offset += len(keys)
        finally:
            self._busy = False
            self._send_queued()
