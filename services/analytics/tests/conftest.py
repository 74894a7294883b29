"""Analytics tests: the real app on a migrated database of each test module, fed through NATS."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.events import EventEnvelope
from knowrithm_common.testing import KeyPair, agents_stand_in, environment, running_app, service_env

KEYS = KeyPair.generate()


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


@pytest.fixture
async def client(analytics_env):
    from knowrithm_analytics.main import create_app

    with environment(analytics_env):
        app = create_app()
    # The agents service's state query answers beside the app: "no such agent" unless told.
    async with running_app(app) as c, agents_stand_in(app.state.nats) as owner:
        c.app, c.agents_owner = app, owner
        yield c


async def publish(app, event: EventEnvelope, msg_id: str | None = None) -> None:
    """Publish an envelope to JetStream as a producer's relay would."""
    await app.state.nats.js.publish(
        event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or uuid.uuid4().hex}
    )


async def caught_up(app) -> None:
    """Wait until the projection consumer has applied everything already in the stream."""
    name = app.state.settings.projections_consumer
    for _ in range(150):
        info = await app.state.nats.js.consumer_info("EVENTS", name)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("projection consumer did not catch up")
