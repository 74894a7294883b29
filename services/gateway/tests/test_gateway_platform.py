"""The gateway's own endpoints: health, task status fan-out, merged OpenAPI, metrics."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_health_is_healthy_when_every_upstream_is_ready(client: httpx.AsyncClient) -> None:
    resp = await client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "healthy", "database": "connected", "redis": "connected", "nats": "connected",
        "services": {
            "auth": "healthy", "agents": "healthy", "conversations": "healthy",
            "ingestion": "healthy", "analytics": "healthy", "ingestion-worker": "healthy",
            "console": "healthy",
        },
    }


async def test_health_is_degraded_with_503_when_an_upstream_is_down(
    degraded_gateway_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway_url) as http:
        resp = await http.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["services"]["analytics"] == "unhealthy"
    assert body["services"]["ingestion-worker"] == "unhealthy"
    assert body["services"]["auth"] == "healthy"
    assert body["database"] == "connected"  # the services that answered reach it


async def test_health_answers_under_api_v1_too_without_credentials(client: httpx.AsyncClient) -> None:
    alias = await client.get("/api/v1/health")  # where the official SDK's health_check asks
    assert alias.status_code == 200 and alias.json() == (await client.get("/health")).json()
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/api/v1/health"]["get"]["security"] == [] == paths["/health"]["get"]["security"]


async def test_own_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok"}}


async def test_task_status_fan_out_finds_the_owning_service(
    client: httpx.AsyncClient, upstreams: dict[str, Any], make_token: Any
) -> None:
    task_id = str(uuid.uuid4())
    upstreams["ingestion"][0].tasks.add(task_id)
    resp = await client.get(f"/api/v1/tasks/{task_id}/status", headers=bearer(make_token()))
    assert resp.status_code == 200
    assert resp.json() == {"status": "completed", "owner": "ingestion", "progress": 100}
    assert "x-request-id" in resp.headers


async def test_task_status_of_unknown_task_returns_404(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    resp = await client.get(f"/api/v1/tasks/{uuid.uuid4()}/status", headers=bearer(make_token()))
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"


async def test_task_status_with_an_owner_down_returns_503_not_404(
    degraded_gateway_url: str, make_token: Any
) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway_url) as http:
        resp = await http.get(f"/api/v1/tasks/{uuid.uuid4()}/status", headers=bearer(make_token()))
    assert resp.status_code == 503


async def test_openapi_merges_every_service_paths(client: httpx.AsyncClient) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    for path in ("/api/v1/auth/thing", "/api/v1/agent/thing", "/api/v1/conversation/thing",
                 "/api/v1/document/thing", "/api/v1/analytic/thing",
                 "/api/v1/tasks/{task_id}/status", "/health"):
        assert path in doc["paths"], path
    assert "/health/ready" not in doc["paths"]  # services' own probes are not public API
    schemas = doc["components"]["schemas"]
    # Same name, different schema: each service keeps its own under a prefixed name.
    agent_ref = doc["paths"]["/api/v1/agent/thing"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"]
    assert schemas[agent_ref.rsplit("/", 1)[1]]["title"] == "agents thing"
    assert "HTTPValidationError" in schemas
    assert "bearerAuth" in doc["components"]["securitySchemes"]


async def test_openapi_states_each_operations_policy(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    # Served by no declared operation: credentials needed, either kind.
    thing = paths["/api/v1/document/thing"]["get"]
    assert thing["security"] == [{"bearerAuth": []}, {"apiKey": [], "apiSecret": []}]
    assert thing["x-knowrithm-policy"]["access"] == "authenticated"
    task = paths["/api/v1/tasks/{task_id}/status"]["get"]
    assert task["x-knowrithm-policy"] == {
        "access": "authenticated", "roles": None, "api_key_scope": "read",
        "rate_limit_class": "default",
    }


async def test_openapi_tolerates_a_down_service(degraded_gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=degraded_gateway_url) as http:
        doc = (await http.get("/openapi.json")).json()
    assert "/api/v1/auth/thing" in doc["paths"]
    assert "/api/v1/analytic/thing" not in doc["paths"]
    assert doc["x-unavailable-services"] == ["analytics"]


async def test_docs_page_points_at_merged_openapi(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs")
    assert resp.status_code == 200
    assert "/openapi.json" in resp.text


async def test_metrics_label_requests_by_route_pattern(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/agent")
    await client.get("/api/v1/agent/some-id/stats")
    await client.get("/api/v1/super-admin/company/c9/system-metric")
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/agent"' in text
    assert 'route="/api/v1/super-admin/company/{company_id}/system-metric"' in text
    assert "some-id" not in text
    assert "knowrithm_gateway_upstream_errors_total" in text
