"""API-key revocations from auth's events: every replica drops what it holds for the key.

Auth deletes a revoked key's Redis entry right after the revocation commits, which the next
request already sees. The event is the second line: it also empties each replica's own
parse cache and deletes the Redis entry again, which undoes a resolve that raced the
revocation and cached the key anew. Each replica reads the events with its own ordered
(ephemeral) consumer from the moment it subscribes; no state is kept anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.auth import ApiKeyRevokedV1
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_gateway.apikeys import ApiKeys

logger = logging.getLogger(__name__)


class RevocationListener:
    """Subscribes (once NATS is reachable) and evicts every revoked key it hears of."""

    def __init__(self, nats: NatsConnection, api_keys: ApiKeys) -> None:
        self._nats = nats
        self._api_keys = api_keys
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._evictions: set[asyncio.Task[None]] = set()
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._subscribe(), name="api-key-revocations")

    async def _subscribe(self) -> None:
        while True:
            await self._nats.wait_connected()
            try:
                self._sub = await self._nats.js.subscribe(
                    ApiKeyRevokedV1.subject(), cb=self._on_message, ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                )
            except Exception as exc:
                logger.warning("subscribing to API-key revocations failed (%r); retrying", exc)
                await asyncio.sleep(1)
                continue
            self.subscribed.set()
            return

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = ApiKeyRevokedV1.model_validate(EventEnvelope.model_validate_json(msg.data).data)
        except ValidationError as exc:
            logger.error("unreadable API-key revocation event: %r", exc)
            return
        self._api_keys.forget(event.key_hash)
        task = asyncio.create_task(self._api_keys.evict(event.key_hash))
        self._evictions.add(task)
        task.add_done_callback(self._evictions.discard)

    async def stop(self) -> None:
        for task in (self._task, *self._evictions):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
