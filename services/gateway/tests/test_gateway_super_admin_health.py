"""`GET /api/v1/super-admin/health` (lane platform): every process's health, for super admins only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from knowrithm_gateway.policies import OperationTable

from .conftest import bearer

PATH = "/api/v1/super-admin/health"
PROCESSES = ["gateway", "auth", "agents", "conversations", "ingestion", "analytics", "ingestion-worker",
             "console"]


async def test_super_admin_sees_every_process_up_with_its_dependency_checks(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    resp = await client.get(PATH, headers=bearer(make_token(role="super_admin")))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "healthy"
    assert [s["name"] for s in body["services"]] == PROCESSES
    assert all(s["status"] == "up" and s["error"] is None for s in body["services"])
    auth = body["services"][1]
    assert auth["checks"] == {"database": "ok", "nats": "ok", "redis": "ok"}
    assert body["services"][0]["checks"] == {"redis": "ok"}
    assert resp.headers["cache-control"] == "no-store"


async def test_an_unreachable_upstream_is_reported_down_with_200_not_an_error(
    degraded_gateway_url: str, make_token: Any
) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway_url, timeout=10) as http:
        resp = await http.get(PATH, headers=bearer(make_token(role="super_admin")))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    by_name = {s["name"]: s for s in body["services"]}
    assert body["status"] == "degraded"
    assert by_name["analytics"]["status"] == "down" and by_name["analytics"]["error"] == "unreachable"
    assert by_name["ingestion-worker"]["status"] == "down"
    assert by_name["auth"]["status"] == "up"


async def test_company_admins_and_anonymous_callers_are_refused(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    admin = await client.get(PATH, headers=bearer(make_token(role="admin")))
    assert admin.status_code == 403 and admin.json()["error"] == "insufficient_role"
    anonymous = await client.get(PATH)
    assert anonymous.status_code == 401


async def test_other_methods_are_405(client: httpx.AsyncClient, make_token: Any) -> None:
    resp = await client.post(PATH, headers=bearer(make_token(role="super_admin")))
    assert resp.status_code == 405 and resp.headers["allow"] == "GET"


def test_the_route_is_declared_for_super_admins_only_as_a_user_operation() -> None:
    operation = OperationTable().match("GET", PATH)
    assert operation is not None and operation.roles == frozenset({"super_admin"})
    assert str(operation.access) == "user" and not operation.tenant_scoped
    assert OperationTable().match("GET", f"/api/v1/super-admin/company/{uuid.uuid4()}/system-metric") is not None
