"""Auth's side of the live configuration: the known keys' snapshot written to Redis.

After every change (once it committed, before the answer leaves), at start (forced, so a
restored database wins over what Redis held) and every AUTH_SYSTEM_CONFIG_REPUBLISH_SECONDS
(so a flushed or replaced Redis heals without anyone touching the configuration). A publish
that fails only logs: the change is committed, and the next periodic publish carries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from knowrithm_auth.sysconfig.service import snapshot
from knowrithm_common.db.session import Database
from knowrithm_common.sysconfig import SNAPSHOT_KEY, publish_snapshot

logger = logging.getLogger(__name__)


class ConfigPublisher:
    """Writes the known keys' current values to Redis for every replica's watcher."""

    def __init__(self, *, db: Database, redis: Redis, every_seconds: float, key: str = SNAPSHOT_KEY) -> None:
        self._db = db
        self._redis = redis
        self._every = every_seconds
        self._key = key
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def publish(self, *, force: bool = False) -> None:
        """Write the snapshot as the database holds it now; a Redis failure is logged, not raised."""
        async with self._db.session() as session, session.begin():
            revision, values = await snapshot(session)
        try:
            await publish_snapshot(self._redis, revision=revision, values=values, force=force, key=self._key)
        except (RedisError, OSError) as exc:
            logger.warning("publishing the system configuration to Redis failed (%r); retrying later", exc)

    async def start(self) -> None:
        await self.publish(force=True)
        self._task = asyncio.create_task(self._loop(), name="system-config-publisher")

    async def stop(self) -> None:
        """Stop after the publish in hand, if any (a cancelled database read can wedge its connection)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._every)
                return
            try:
                await self.publish()
            except Exception:
                logger.exception("republishing the system configuration failed")
