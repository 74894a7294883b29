"""Analytics on its own migrated database, fed through the embedded NATS JetStream."""

import asyncio
import uuid

import pytest

from knowrithm_common.db.migrations import upgrade
from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1, UserRegisteredV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import KeyPair, assertion_headers, environment, running_app, service_env

KEYS = KeyPair.generate()


@pytest.fixture(scope="module")
def analytics_env(stack):
    url = stack.create_database("analytics_service_tests")
    upgrade(package="knowrithm_analytics", schema="analytics", url=url)
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=KEYS,
        extra={"ANALYTICS_PROJECTIONS_CONSUMER": f"analytics-test-{uuid.uuid4().hex[:8]}"},
    )


@pytest.fixture
async def client(analytics_env):
    from knowrithm_analytics.main import create_app

    with environment(analytics_env):
        app = create_app()
    async with running_app(app) as c:
        c.app = app
        yield c


async def _publish(app, event, msg_id=None):
    js = app.state.nats.js
    await js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or uuid.uuid4().hex})


async def _users(client, company_id):
    admin = Principal(kind="user", company_id=company_id, role=Role.ADMIN)
    r = await client.get("/api/v1/admin/system-metric", headers=assertion_headers(KEYS.signer(), admin))
    assert r.status_code == 200
    return r.json()["metrics"]["users_registered"][0]["value"]


async def _caught_up(app):
    """Wait until the projection consumer has applied everything already in the stream."""
    name = app.state.settings.projections_consumer
    for _ in range(100):
        info = await app.state.nats.js.consumer_info("EVENTS", name)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("projection consumer did not catch up")


async def _eventually_equal(fn, expected, timeout=10.0):
    value = None
    for _ in range(int(timeout / 0.1)):
        value = await fn()
        if value == expected:
            return value
        await asyncio.sleep(0.1)
    return value


async def test_admin_sees_users_of_their_company_counted_once_despite_redelivery(client):
    company = uuid.uuid4()
    registered = [
        new_event(UserRegisteredV1(user_id=uuid.uuid4(), company_id=company, email=f"u{i}@example.com", username=f"u{i}", role="user"),
                  source="auth", company_id=company)
        for i in range(3)
    ]
    for event in registered:
        await _publish(client.app, event)
    await _publish(client.app, registered[0])  # the same event again, as a replay would
    assert await _eventually_equal(lambda: _users(client, company), 3) == 3
    await asyncio.sleep(0.5)
    assert await _users(client, company) == 3
    assert await _users(client, uuid.uuid4()) == 0  # another company sees none of them


async def test_super_admin_sees_platform_company_count_grow_by_one(client):
    signer = KEYS.signer()
    root = Principal(kind="user", role=Role.SUPER_ADMIN)

    async def companies():
        r = await client.get("/api/v1/admin/system-metric", headers=assertion_headers(signer, root))
        return r.json()["metrics"]["companies_registered"][0]["value"]

    await _caught_up(client.app)
    before = await companies()
    company = uuid.uuid4()
    await _publish(client.app, new_event(CompanyCreatedV1(company_id=company, name="Acme", email="a@example.com"), source="auth", company_id=company))
    assert await _eventually_equal(companies, before + 1) == before + 1


async def test_plain_user_is_forbidden(client):
    user = Principal(kind="user", company_id=uuid.uuid4(), role=Role.USER)
    r = await client.get("/api/v1/admin/system-metric", headers=assertion_headers(KEYS.signer(), user))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
