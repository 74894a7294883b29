"""Analytics on its own migrated database, fed through the embedded NATS JetStream."""

import asyncio
import uuid

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1, UserRegisteredV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers

from .conftest import KEYS, caught_up, publish


async def _users(client, company_id):
    admin = Principal(kind="user", company_id=company_id, role=Role.ADMIN)
    r = await client.get("/api/v1/admin/system-metric", headers=assertion_headers(KEYS.signer(), admin))
    assert r.status_code == 200
    return r.json()["metrics"]["users_registered"][0]["value"]




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
        await publish(client.app, event)
    await publish(client.app, registered[0])  # the same event again, as a replay would
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

    await caught_up(client.app)
    before = await companies()
    company = uuid.uuid4()
    await publish(client.app, new_event(CompanyCreatedV1(company_id=company, name="Acme", email="a@example.com"), source="auth", company_id=company))
    assert await _eventually_equal(companies, before + 1) == before + 1


async def test_plain_user_is_forbidden(client):
    user = Principal(kind="user", company_id=uuid.uuid4(), role=Role.USER)
    r = await client.get("/api/v1/admin/system-metric", headers=assertion_headers(KEYS.signer(), user))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
