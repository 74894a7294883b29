"""`GET /api/v1/super-admin/health`: each process's own health, for the platform's operators.

The public `/health` (health.py) sums the platform up in the seed's shape; this one lists every
process (the gateway itself first, then each upstream of `GatewaySettings.upstreams`) with what
its `/health/ready` reported: its verdict and each dependency check (database, redis, nats, ...).
An upstream that does not answer within `health_timeout_seconds` is reported as down, with why:
the answer is always 200, since a service being down is the report, not an error of this route.
Super admins only (policies.py); the proxy admits the request, then hands it here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from starlette.types import Scope, Send

from knowrithm_common.errors import MethodNotAllowed
from knowrithm_common.health import run_checks

if TYPE_CHECKING:
    from knowrithm_gateway.runtime import GatewayRuntime

UP, DEGRADED, DOWN = "up", "degraded", "down"


def _entry(
    name: str, status: str, *, checks: dict[str, str], seconds: float, error: str | None
) -> dict[str, Any]:
    return {"name": name, "status": status, "checks": checks,
            "response_ms": round(seconds * 1000, 1), "error": error}


async def _probe(
    session: aiohttp.ClientSession, name: str, base: str, client_timeout: aiohttp.ClientTimeout
) -> dict[str, Any]:
    """One upstream's readiness: up (ready), degraded (answers, a dependency fails) or down."""
    start = time.perf_counter()
    try:
        async with session.get(f"{base}/health/ready", timeout=client_timeout) as resp:
            body = await resp.json(content_type=None)
    except TimeoutError:
        return _entry(name, DOWN, checks={}, seconds=time.perf_counter() - start, error="timeout")
    except (aiohttp.ClientError, ValueError, OSError):
        return _entry(name, DOWN, checks={}, seconds=time.perf_counter() - start, error="unreachable")
    seconds = time.perf_counter() - start
    if not isinstance(body, dict) or body.get("status") not in ("ready", "not_ready"):
        return _entry(name, DOWN, checks={}, seconds=seconds, error="no readiness report")
    raw = body.get("checks")
    checks = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    status = UP if resp.status == 200 and body["status"] == "ready" else DEGRADED
    return _entry(name, status, checks=checks, seconds=seconds, error=None)


async def _own(runtime: GatewayRuntime) -> dict[str, Any]:
    start = time.perf_counter()
    checks = await run_checks({"redis": runtime.redis.ping})
    status = UP if all(v == "ok" for v in checks.values()) else DEGRADED
    return _entry("gateway", status, checks=checks, seconds=time.perf_counter() - start, error=None)


async def platform_report(runtime: GatewayRuntime) -> dict[str, Any]:
    """Every process's health, the gateway first; `status` is healthy only when all are up."""
    timeout = aiohttp.ClientTimeout(total=runtime.settings.health_timeout_seconds)
    own, upstreams = await asyncio.gather(
        _own(runtime),
        asyncio.gather(*(_probe(runtime.session, name, base, timeout)
                         for name, base in runtime.upstreams.items())),
    )
    services = [own, *upstreams]
    healthy = all(s["status"] == UP for s in services)
    return {"status": "healthy" if healthy else "degraded",
            "checked_at": dt.datetime.now(dt.UTC).isoformat(), "services": services}


async def answer_platform_health(
    runtime: GatewayRuntime, scope: Scope, send: Send, *, request_id: str,
    extra_headers: list[tuple[str, str]],
) -> int:
    """Send the report as the route's 200 JSON answer."""
    if scope["method"] not in ("GET", "HEAD"):
        raise MethodNotAllowed(headers={"Allow": "GET"})
    body = json.dumps(await platform_report(runtime)).encode()
    headers = [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), (b"x-request-id", request_id.encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra_headers),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return 200
