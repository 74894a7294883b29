"""A NATS connection that keeps trying: a service starts (not ready) while NATS is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from knowrithm_common.messaging.streams import ensure_streams

logger = logging.getLogger(__name__)


async def stop_task(task: asyncio.Task[None], timeout: float = 5.0) -> None:
    """Let a background loop that was asked to stop finish; cancel it only past `timeout`."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception:  # noqa: S110 - the loop logged its own failure
        pass


class NatsConnection:
    """Owns one nats-py client; connects in the background and reconnects forever."""

    def __init__(self, url: str, *, name: str) -> None:
        self.url = url
        self.name = name
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._connect_loop(), name=f"nats-connect-{self.name}")

    async def _connect_loop(self) -> None:
        delay = 0.2
        while True:
            try:
                client = await nats.connect(
                    self.url,
                    name=self.name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    drain_timeout=5,
                )
                self._client = client
                await ensure_streams(client.jetstream())
                self._ready.set()
                return
            except Exception as exc:
                logger.warning("NATS not reachable at %s (%s); retrying", self.url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def wait_connected(self, timeout: float | None = None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def client(self) -> Client:
        if self._client is None:
            raise ConnectionError("NATS is not connected yet")
        return self._client

    @property
    def js(self) -> JetStreamContext:
        return self.client.jetstream()

    async def ping(self) -> None:
        """Raise unless NATS answers a round trip."""
        if not self.connected:
            raise ConnectionError("NATS disconnected")
        await self.client.flush(timeout=1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._client is not None and not self._client.is_closed:
            # Flush what was published, then close: draining waits out open pull subscriptions
            # (up to drain_timeout, 5 s) though every consumer has already stopped.
            with contextlib.suppress(Exception):
                await self._client.flush(timeout=1)
            with contextlib.suppress(Exception):
                await self._client.close()
