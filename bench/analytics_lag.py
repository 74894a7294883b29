"""End-to-end analytics lag: from a write through the gateway to the number on the dashboard.

The whole platform runs as the e2e tests start it (embedded PostgreSQL, NATS, Redis, every
process). An admin records a lead (POST /api/v1/lead); the clock stops when
GET /api/v1/analytic/leads, polled every 20 ms, counts it. The path measured is the
conversations service's transaction and outbox relay, JetStream, the analytics projection
consumer and the analytics query. Writes run one after another (`--writes`), optionally with
`--background` writers recording leads of another company at the same time, to see the lag
under load.

    python3 -m uv run --frozen python bench/analytics_lag.py --writes 100 --background 4
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platform_runner import offline_agent, running_platform

E2E_LIMITS = {
    "GATEWAY_RATE_LIMIT_AUTH_PER_MINUTE": "100000",
    "GATEWAY_RATE_LIMIT_USER_PER_MINUTE": "1000000",
    "GATEWAY_RATE_LIMIT_COMPANY_PER_MINUTE": "1000000",
}


def _lead(agent_id: str) -> dict[str, str]:
    return {"agent_id": agent_id, "first_name": "Bench", "email": f"b-{uuid.uuid4().hex[:10]}@example.com"}


async def _total(gateway: httpx.AsyncClient, auth: dict[str, str]) -> int:
    r = await gateway.get("/api/v1/analytic/leads", headers=auth)
    r.raise_for_status()
    return sum(r.json()["lead_status_distribution"].values())


async def _until_counted(gateway: httpx.AsyncClient, auth: dict[str, str], count: int) -> None:
    """Poll the leads analytics every 20 ms until they count `count` leads."""
    while True:
        if await _total(gateway, auth) >= count:
            return
        await asyncio.sleep(0.02)


async def _background(gateway: httpx.AsyncClient, auth: dict[str, str], agent_id: str, stop: asyncio.Event,
                      written: list[int]) -> None:
    while not stop.is_set():
        r = await gateway.post("/api/v1/lead", json=_lead(agent_id), headers=auth)
        r.raise_for_status()
        written[0] += 1


async def measure(base_url: str, platform, writes: int, background: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as gateway:
        auth, agent_id = await offline_agent(gateway, platform)
        other_auth, other_agent = await offline_agent(gateway, platform)
        # conversations learns of the agent through its projection: wait until a lead is accepted
        for _ in range(200):
            if (await gateway.post("/api/v1/lead", json=_lead(agent_id), headers=auth)).status_code == 201:
                break
            await asyncio.sleep(0.1)
        await _until_counted(gateway, auth, 1)
        stop, written = asyncio.Event(), [0]
        load = [asyncio.create_task(_background(gateway, other_auth, other_agent, stop, written))
                for _ in range(background)]
        lags = []
        count = await _total(gateway, auth)
        started = time.perf_counter()
        for _ in range(writes):
            t0 = time.perf_counter()
            r = await gateway.post("/api/v1/lead", json=_lead(agent_id), headers=auth)
            r.raise_for_status()
            count += 1
            await _until_counted(gateway, auth, count)
            lags.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*load)
    lags.sort()
    return {
        "writes": writes, "background_writes_per_s": written[0] / elapsed,
        "p50_s": statistics.median(lags), "p95_s": lags[int(0.95 * (len(lags) - 1))], "max_s": lags[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--background", type=int, default=4, help="concurrent writers of another company")
    args = parser.parse_args()
    with running_platform(E2E_LIMITS) as platform:
        for background in sorted({0, args.background}):
            result = asyncio.run(measure(platform.gateway_url, platform, args.writes, background))
            print(f"background writers={background}: " + ", ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
