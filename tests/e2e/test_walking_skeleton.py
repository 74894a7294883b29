"""The walking skeleton, as a user drives it: through the gateway of a launched platform."""

import asyncio
import uuid

import httpx
import pytest

from .conftest import companies_registered, projections_caught_up, wait_for

pytestmark = pytest.mark.e2e

SERVICES = {"auth", "agents", "conversations", "ingestion", "analytics", "ingestion-worker", "console"}


def _company():
    tag = uuid.uuid4().hex[:10]
    return {"name": f"Acme {tag}", "email": f"hello-{tag}@example.com"}


async def test_health_shows_every_service_healthy(gateway):
    r = await gateway.get("/health")
    body = r.json()
    assert r.status_code == 200, body
    assert body["status"] == "healthy" and body["database"] == "connected"
    assert body["redis"] == "connected" and body["nats"] == "connected"
    assert set(body["services"]) == SERVICES and set(body["services"].values()) == {"healthy"}


async def test_company_signup_is_counted_by_analytics_within_a_second(platform, gateway, super_admin_token):
    await projections_caught_up(platform)
    before = await companies_registered(gateway, super_admin_token)

    r = await gateway.post("/api/v1/company", json=_company())
    assert r.status_code == 201, r.text
    company_id = r.json()["id"]
    tag = uuid.uuid4().hex[:8]
    r = await gateway.post("/api/v1/auth/register", json={
        "company_id": company_id, "email": f"owner-{tag}@example.com", "username": f"owner_{tag}",
        "password": "SecurePass123!", "first_name": "Grace", "last_name": "Hopper",
    })
    assert r.status_code == 201, r.text
    me = await gateway.get("/api/v1/auth/user/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["company"]["id"] == company_id

    count, took = await wait_for(lambda: companies_registered(gateway, super_admin_token), before + 1, timeout=5)
    assert count == before + 1
    assert took <= 1.0, f"projection took {took:.2f}s"


async def test_signup_while_nats_is_down_succeeds_and_is_counted_once_after(platform, gateway, super_admin_token):
    await projections_caught_up(platform)
    before = await companies_registered(gateway, super_admin_token)
    platform.stop_server("nats")
    try:
        r = await gateway.post("/api/v1/company", json=_company())
        assert r.status_code == 201, r.text
        await asyncio.sleep(1.0)
        assert await companies_registered(gateway, super_admin_token) == before
    finally:
        await asyncio.to_thread(platform.start_server, "nats")
    count, _ = await wait_for(lambda: companies_registered(gateway, super_admin_token), before + 1, timeout=30)
    assert count == before + 1
    await projections_caught_up(platform)
    await asyncio.sleep(1.0)
    assert await companies_registered(gateway, super_admin_token) == before + 1


async def test_killed_service_is_restarted_and_health_is_degraded_meanwhile(platform, gateway):
    old_pid = platform.pid("analytics")
    platform.kill("analytics")
    r = await gateway.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["services"]["analytics"] == "unhealthy"
    await asyncio.to_thread(platform.wait_restarted, "analytics", old_pid)
    status, _ = await wait_for(lambda: _health_status(gateway), 200, timeout=60)
    assert status == 200


async def _health_status(gateway):
    return (await gateway.get("/health")).status_code


async def test_direct_request_to_a_service_without_assertion_is_401(platform):
    async with httpx.AsyncClient(base_url=platform.url("auth")) as direct:
        r = await direct.post("/api/v1/company", json=_company())
    assert r.status_code == 401
    assert r.json()["success"] is False and r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("path", ["/api/v1/company", "/api/v1/auth/login", "/api/v1/auth/register"])
async def test_malformed_json_through_gateway_is_400_in_shared_shape(gateway, path):
    r = await gateway.post(path, content=b'{"name": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["success"] is False and r.json()["error"] == "invalid_json"


async def test_unknown_api_path_is_404_in_shared_shape(gateway):
    r = await gateway.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["success"] is False


async def test_forged_bearer_token_is_401(gateway):
    r = await gateway.get("/api/v1/admin/system-metric", headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and r.json()["success"] is False
