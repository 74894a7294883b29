"""Analytics on its own migrated database, fed through the embedded NATS JetStream."""

import uuid

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1, UserRegisteredV1
from knowrithm_common.identity import Principal, Role

from .conftest import caught_up, eventually, publish

ROOT = Principal(kind="user", role=Role.SUPER_ADMIN)


async def _metric(call, principal, name):
    r = await call("GET", "/api/v1/admin/system-metric", principal)
    assert r.status_code == 200
    return r.json()["metrics"][name][0]["value"]


async def _users(call, company_id):
    return await _metric(call, Principal(kind="user", company_id=company_id, role=Role.ADMIN), "users_registered")


async def test_admin_sees_users_of_their_company_counted_once_despite_redelivery(client, call):
    company = uuid.uuid4()
    registered = [
        new_event(UserRegisteredV1(user_id=uuid.uuid4(), company_id=company, email=f"u{i}@example.com", username=f"u{i}", role="user"),
                  source="auth", company_id=company)
        for i in range(3)
    ]
    for event in registered:
        await publish(client.app, event)
    await publish(client.app, registered[0])  # the same event again, as a replay would
    assert await eventually(lambda: _users(call, company), lambda n: n == 3) == 3
    await caught_up(client.app)  # the redelivery too has been applied by now
    assert await _users(call, company) == 3
    assert await _users(call, uuid.uuid4()) == 0  # another company sees none of them


async def test_super_admin_sees_platform_company_count_grow_by_one(client, call):
    await caught_up(client.app)
    before = await _metric(call, ROOT, "companies_registered")
    company = uuid.uuid4()
    await publish(client.app, new_event(CompanyCreatedV1(company_id=company, name="Acme", email="a@example.com"), source="auth", company_id=company))
    after = await eventually(lambda: _metric(call, ROOT, "companies_registered"), lambda n: n == before + 1)
    assert after == before + 1


async def test_plain_user_is_forbidden(call):
    user = Principal(kind="user", company_id=uuid.uuid4(), role=Role.USER)
    r = await call("GET", "/api/v1/admin/system-metric", user)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
