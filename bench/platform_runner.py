"""What the whole-platform benches share: the embedded stack and every process in a temporary
directory (as the e2e tests start them), and a company with an agent on the offline provider."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from knowrithm_stack.launcher import Platform, Stack
from knowrithm_stack.processes import PROCESSES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from accounts import offline_settings, sign_up


@contextlib.contextmanager
def running_platform(environ: Mapping[str, str] | None = None) -> Iterator[Platform]:
    """Start PostgreSQL, NATS, Redis and every process on free ports; stop them all afterwards."""
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-") as tmp:
        ports = dict.fromkeys(("postgres", "nats", "nats-monitor", "redis"), 0)
        stack = Stack(Path(tmp) / "stack", ports=ports, durable=False)
        stack.start(timeout=60)
        try:
            platform = Platform(
                stack, data_dir=Path(tmp) / "platform", database_url=stack.create_database("bench"),
                ports=dict.fromkeys((s.name for s in PROCESSES), 0), strict_ports=(),
                environ={**stack.environ, **(environ or {})},
            )
            platform.start(timeout=120)
            try:
                yield platform
            finally:
                platform.stop()
        finally:
            stack.stop()


async def offline_agent(gateway: httpx.AsyncClient, platform: Platform) -> tuple[dict[str, str], str]:
    """A new company on the offline provider, its admin's headers, and an agent ingestion knows."""
    account = await sign_up(gateway)
    await offline_settings(gateway, account, is_default=True)
    agent = await gateway.post("/api/v1/agent", json={"name": "Bench"}, headers=account.auth)
    agent_id = agent.json()["id"]
    for _ in range(200):  # until ingestion has the agent in its projection
        if (await gateway.get(f"/api/v1/document/agent/{agent_id}", headers=account.auth)).status_code == 200:
            break
        await asyncio.sleep(0.1)
    return account.auth, agent_id
