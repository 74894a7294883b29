"""Liveness and readiness: `/health/live` says the process runs, `/health/ready` checks deps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_SECONDS = 1.5


async def run_checks(checks: Mapping[str, Check]) -> dict[str, str]:
    """Run every check concurrently; "ok" or the failure's text for each."""

    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
            return "ok"
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return f"error: {type(exc).__name__}: {exc}"[:200]

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


def health_router(checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    """Health endpoints; `checks` is called per request so it can read app state."""
    router = APIRouter(tags=["Health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up."""
        return {"status": "alive"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        """200 when every dependency of this process answers, 503 otherwise."""
        results = await run_checks(checks())
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": results},
            status_code=200 if ok else 503,
        )

    return router
