"""Analytics tests: the real app on a migrated database of each test module, fed through NATS.

One app runs per module (`client`): tests keep apart by their own companies. A module that
needs other settings overrides `analytics_env`; a test that needs an app of its own (a fresh
consumer position, other settings) starts one with `running_app`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.events import EventEnvelope
from knowrithm_common.testing import KeyPair, gateway_call, service_client, service_env

KEYS = KeyPair.generate()
T = TypeVar("T")


@pytest.fixture(scope="module")
def analytics_env(stack, request):
    url = stack.create_database(f"analytics_{request.module.__name__.rsplit('.', 1)[-1]}")
    upgrade(package="knowrithm_analytics", schema="analytics", url=url)
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=KEYS,
        # Each module's app keeps its own position in the stream.
        extra={
            "ANALYTICS_PROJECTIONS_CONSUMER": f"analytics-test-{uuid.uuid4().hex[:8]}",
            "ANALYTICS_WEBHOOKS_CONSUMER": f"analytics-webhooks-test-{uuid.uuid4().hex[:8]}",
            "ENCRYPTION_KEY": generate_key(),
        },
    )


async def subscribed(app) -> None:
    """Until the app's consumers and workers exist on the server (the webhooks consumer only
    sees events published after that)."""
    state = app.state
    for background in (state.projections, state.webhook_fan_out, state.webhook_worker, state.export_worker):
        await background.wait_subscribed()


# The agents service's state query answers beside the app: "no such agent" unless told.
client = service_client(
    "knowrithm_analytics.main:create_app", env="analytics_env", agents_owner=True, ready=subscribed
)


@pytest.fixture
def signer():
    return KEYS.signer()


@pytest.fixture
def call(client, signer):
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""
    return gateway_call(client, signer)


async def publish(app, event: EventEnvelope, msg_id: str | None = None) -> None:
    """Publish an envelope to JetStream as a producer's relay would."""
    await app.state.nats.js.publish(
        event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or uuid.uuid4().hex}
    )


async def eventually(
    fn: Callable[[], Awaitable[T]], ok: Callable[[T], Any] = bool, *, timeout: float = 15.0, every: float = 0.05
) -> T:
    """`await fn()` until `ok` holds of its value (then that value); AssertionError after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        await asyncio.sleep(every)


async def caught_up(app) -> None:
    """Wait until the projection consumer has applied everything already in the stream."""
    name = app.state.settings.projections_consumer

    async def backlog():
        info = await app.state.nats.js.consumer_info("EVENTS", name)
        return info.num_pending + info.num_ack_pending

    await eventually(backlog, lambda pending: pending == 0)
