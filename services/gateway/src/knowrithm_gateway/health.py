"""`GET /health`: the whole platform's health in the seed's shape, from every service's readiness.

Each upstream answers `/health/ready` with `{"status": "ready"|"not_ready", "checks": {...}}`;
a dependency counts as connected when every service that checks it says "ok".
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from knowrithm_gateway.runtime import GatewayRuntime

DEPENDENCIES = ("database", "redis", "nats")

Readiness = dict[str, Any] | None  # the service's ready body; None when it did not answer 200


async def _readiness(
    session: aiohttp.ClientSession, base: str, client_timeout: aiohttp.ClientTimeout
) -> Readiness:
    try:
        async with session.get(f"{base}/health/ready", timeout=client_timeout) as resp:
            body = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return body if isinstance(body, dict) else None


async def _redis_ok(runtime: GatewayRuntime) -> bool:
    try:
        await runtime.redis.ping()
    except Exception:  # any failure means "disconnected" here
        return False
    return True


def summarize(readiness: dict[str, Readiness], *, gateway_redis_ok: bool) -> dict[str, Any]:
    """The seed's health shape from each service's readiness body."""
    services = {
        name: "healthy" if body is not None and body.get("status") == "ready" else "unhealthy"
        for name, body in readiness.items()
    }
    verdicts: dict[str, list[bool]] = {dep: [] for dep in DEPENDENCIES}
    verdicts["redis"].append(gateway_redis_ok)
    for body in readiness.values():
        checks = (body or {}).get("checks") or {}
        for dep in DEPENDENCIES:
            if dep in checks:
                verdicts[dep].append(checks[dep] == "ok")
    healthy = gateway_redis_ok and all(v == "healthy" for v in services.values())
    return {
        "status": "healthy" if healthy else "degraded",
        **{dep: _connection(v) for dep, v in verdicts.items()},
        "services": services,
    }


def _connection(verdicts: list[bool]) -> str:
    if not verdicts:
        return "unknown"  # no reachable service checks it
    return "connected" if all(verdicts) else "disconnected"


def platform_health_router() -> APIRouter:
    """The aggregated `/health` endpoint."""
    router = APIRouter(tags=["Health"])

    @router.get("/health")
    @router.get("/api/v1/health")  # the same, where the official SDK's health_check asks
    async def health(request: Request) -> JSONResponse:
        """Health of every service and shared dependency; 200 when healthy, 503 when degraded."""
        runtime: GatewayRuntime = request.app.state.runtime
        timeout = aiohttp.ClientTimeout(total=runtime.settings.health_timeout_seconds)
        names = list(runtime.upstreams)
        redis_ok, bodies = await asyncio.gather(
            _redis_ok(runtime),
            asyncio.gather(
                *(_readiness(runtime.session, runtime.upstreams[n], timeout) for n in names)
            ),
        )
        summary = summarize(dict(zip(names, bodies, strict=True)), gateway_redis_ok=redis_ok)
        return JSONResponse(summary, status_code=200 if summary["status"] == "healthy" else 503)

    return router
