"""End-to-end fixtures: the whole platform from the launcher, driven through the gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

PROJECTIONS_CONSUMER = "analytics-projections"


@pytest.fixture
async def gateway(platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=15) as client:
        yield client


@pytest.fixture
async def super_admin_token(platform, gateway) -> str:
    creds = {"email": platform.env["SUPER_ADMIN_EMAIL"], "password": platform.env["SUPER_ADMIN_PASSWORD"]}
    r = await gateway.post("/api/v1/auth/login", json=creds)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def companies_registered(gateway: httpx.AsyncClient, token: str) -> int:
    r = await gateway.get("/api/v1/admin/system-metric", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return int(r.json()["metrics"]["companies_registered"][0]["value"])


async def projections_caught_up(platform, timeout: float = 60.0) -> None:
    """Wait until analytics has applied every event already in the stream."""
    nc = await nats.connect(platform.env["NATS_URL"])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                info = await nc.jetstream().consumer_info("EVENTS", PROJECTIONS_CONSUMER)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
            except nats.js.errors.NotFoundError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("analytics did not catch up with the event stream")
    finally:
        await nc.close()


async def wait_for(fn, expected, *, timeout: float) -> tuple[object, float]:
    """Poll `fn` until it returns `expected`; the last value and the seconds it took."""
    start = time.monotonic()
    value = None
    while time.monotonic() - start < timeout:
        value = await fn()
        if value == expected:
            break
        await asyncio.sleep(0.05)
    return value, time.monotonic() - start
