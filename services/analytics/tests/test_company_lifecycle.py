"""Analytics honours company deletion: a deleted company and its users leave the counts until restored."""

import datetime as dt
import uuid

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import (
    CompanyCreatedV1,
    CompanyDeletedV1,
    CompanyRestoredV1,
    UserRegisteredV1,
)
from knowrithm_common.identity import Principal, Role

from .conftest import caught_up, publish

ROOT = Principal(kind="user", role=Role.SUPER_ADMIN)


async def _metrics(call, principal):
    r = await call("GET", "/api/v1/admin/system-metric", principal)
    assert r.status_code == 200
    return {name: points[0]["value"] for name, points in r.json()["metrics"].items()}


async def _company_with_users(app, users=2):
    company = uuid.uuid4()
    await publish(app, new_event(CompanyCreatedV1(company_id=company, name="Acme", email=f"{company}@example.com"),
                                  source="auth", company_id=company))
    for i in range(users):
        registered = UserRegisteredV1(user_id=uuid.uuid4(), company_id=company, email=f"u{i}-{company}@example.com",
                                      username=f"u{i}{company.hex[:8]}", role="user")
        await publish(app, new_event(registered, source="auth", company_id=company))
    return company


async def test_deleted_company_and_its_users_leave_the_counts_until_restored(client, call):
    app = client.app
    company = await _company_with_users(app)
    await caught_up(app)
    admin = Principal(kind="user", company_id=company, role=Role.ADMIN)
    before = await _metrics(call, ROOT)
    assert (await _metrics(call, admin))["users_registered"] == 2

    deleted = new_event(CompanyDeletedV1(company_id=company), source="auth", company_id=company)
    await publish(app, deleted)
    await caught_up(app)
    during = await _metrics(call, ROOT)
    assert during["companies_registered"] == before["companies_registered"] - 1
    assert during["users_registered"] == before["users_registered"] - 2
    assert (await _metrics(call, admin))["users_registered"] == 0

    await publish(app, new_event(CompanyRestoredV1(company_id=company), source="auth", company_id=company))
    await publish(app, deleted.model_copy(update={"id": str(uuid.uuid4())}))  # an older deletion, late
    await caught_up(app)
    assert await _metrics(call, ROOT) == before
    assert (await _metrics(call, admin))["users_registered"] == 2


async def test_deletion_seen_before_the_sign_up_still_keeps_the_company_out(client, call):
    app = client.app
    await caught_up(app)
    before = await _metrics(call, ROOT)
    company = uuid.uuid4()
    created = new_event(CompanyCreatedV1(company_id=company, name="Late", email=f"{company}@example.com"),
                        source="auth", company_id=company)
    deleted = new_event(CompanyDeletedV1(company_id=company, cascade=True), source="auth", company_id=company)
    deleted = deleted.model_copy(update={"time": created.time + dt.timedelta(seconds=1)})
    await publish(app, deleted)
    await publish(app, created)
    await caught_up(app)
    assert (await _metrics(call, ROOT))["companies_registered"] == before["companies_registered"]
