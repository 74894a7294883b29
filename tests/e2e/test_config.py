"""System configuration through the gateway: a super admin's change is live on every replica within
seconds, without a restart (sign-up, the per-user rate limit, the upload size), and the official
SDK's admin calls read and write it.

A second gateway process runs beside the platform's, on the same environment, as another replica.
Every test restores what it changed (the platform is shared with the rest of the suite).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from knowrithm_stack.ports import free_port, release_ports
from knowrithm_stack.processes import PROCESSES
from knowrithm_stack.service import ServiceProcess

from .accounts import sign_up
from .conftest import projections_caught_up
from .knowledge import trained_agent, upload
from .sdk import new_tenant, sdk_client, super_admin_bearer

pytestmark = pytest.mark.e2e

LIVE_WITHIN = 2.0  # seconds a change may take to reach every replica
GARBAGE = bytes(range(256)) * 400  # 100 KiB no format matches: 415 when small enough, 413 when not


@pytest.fixture(scope="module")
def second_gateway(platform) -> Iterator[str]:
    """Another gateway process on the platform's environment (its own port and log)."""
    spec = next(s for s in PROCESSES if s.name == "gateway")
    process = ServiceProcess(spec, port=free_port(), env=platform.env, log_dir=platform.log_dir / "second-gateway")
    process.start(wait=True, timeout=90)
    try:
        yield process.url
    finally:
        process.stop()
        release_ports([process.port])


@pytest.fixture
async def replicas(gateway, second_gateway) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with httpx.AsyncClient(base_url=second_gateway, timeout=15) as other:
        yield [gateway, other]


@pytest.fixture
async def root(super_admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {super_admin_token}"}


async def _set(gateway: httpx.AsyncClient, root: dict[str, str], key: str, value: Any) -> httpx.Response:
    """PATCH one entry as the super admin (null removes it), waiting out a 429 so a restore never fails."""
    deadline = time.monotonic() + 70
    while True:
        r = await gateway.patch("/api/v1/config", json={"config_key": key, "config_value": value}, headers=root)
        if r.status_code != 429 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r
        await asyncio.sleep(int(r.headers["retry-after"]))


async def _within(probe: Callable[[], Awaitable[bool]], seconds: float = LIVE_WITHIN) -> float:
    """How long until `probe()` holds; fails past `seconds`."""
    started = time.monotonic()
    while not await probe():
        assert time.monotonic() - started < seconds, f"not in force after {seconds} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_closed_sign_up_refuses_companies_on_every_replica_and_reopening_works(replicas, root, platform):
    gateway, other = replicas

    async def company(via: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
        tag = uuid.uuid4().hex[:10]
        return await via.post("/api/v1/company", json={"name": f"Co {tag}", "email": f"co-{tag}@example.com"},
                              headers=headers)

    try:
        await _set(gateway, root, "public_signup_enabled", False)

        async def closed_everywhere() -> bool:
            answers = [await company(via) for via in replicas]
            return all(r.status_code == 403 for r in answers)

        await _within(closed_everywhere)
        refused = await company(other)
        assert refused.json()["error"] == "signup_closed" and "closed" in refused.json()["message"]
        assert (await company(other, root)).status_code == 201  # super admins still create companies
        await projections_caught_up(platform)
        r = await gateway.get("/api/v1/audit-log", params={"action": "system_config.changed",
                                                           "target_id": "public_signup_enabled"}, headers=root)
        newest = r.json()["audit_logs"][0]
        assert (newest["outcome"], newest["risk_level"], newest["detail"]["config_value"]) == (
            "success", "medium", False)
    finally:
        await _set(gateway, root, "public_signup_enabled", True)

    async def open_everywhere() -> bool:
        answers = [await company(via) for via in replicas]
        return all(r.status_code == 201 for r in answers)

    await _within(open_everywhere)


async def test_lowered_per_user_rate_limit_applies_on_every_replica_within_seconds(replicas, root, platform):
    gateway, other = replicas
    user = (await sign_up(gateway)).auth
    usual = platform.env["GATEWAY_RATE_LIMIT_USER_PER_MINUTE"]
    try:
        await _set(other, root, "rate_limit_user_per_minute", 40)

        async def lowered() -> bool:
            limits = [(await via.get("/api/v1/auth/user/me", headers=user)) for via in replicas]
            return all(r.status_code == 429 or r.headers["x-ratelimit-limit"] == "40" for r in limits)

        await _within(lowered)
        for _ in range(41):  # the window's requests so far count too
            r = await other.get("/api/v1/auth/user/me", headers=user)
            if r.status_code == 429:
                break
        assert r.status_code == 429 and r.json()["detail"]["limit"] == "user", r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60
    finally:
        await _set(gateway, root, "rate_limit_user_per_minute", None)  # back to the environment's limit

    async def restored() -> bool:
        answers = [await via.get("/api/v1/auth/user/me", headers=user) for via in replicas]
        return all(r.status_code == 200 and r.headers["x-ratelimit-limit"] == usual for r in answers)

    await _within(restored)


async def test_lowered_upload_size_refuses_a_larger_file_with_413_within_seconds(gateway, root):
    account, agent_id = await trained_agent(gateway)

    async def status() -> int:
        r = await upload(gateway, account, agent_id, [("blob.bin", GARBAGE, "application/octet-stream")])
        return r.status_code

    assert await status() == 415  # small enough: refused for its type, not its size
    try:
        await _set(gateway, root, "max_file_size", 64 * 1024)

        async def too_large() -> bool:
            return await status() == 413

        await _within(too_large)
        r = await upload(gateway, account, agent_id, [("blob.bin", GARBAGE, "application/octet-stream")])
        assert r.json()["message"] == "blob.bin is larger than the limit of 64 KB", r.text
    finally:
        await _set(gateway, root, "max_file_size", None)

    async def restored() -> bool:
        return await status() == 415

    await _within(restored)


def test_sdk_admin_calls_read_and_upsert_the_configuration(platform):
    root = super_admin_bearer(platform.gateway_url, platform.env)
    client = sdk_client(platform.gateway_url)
    tag = uuid.uuid4().hex[:8]
    endpoint, token = f"sdk.crm_endpoint_{tag}", f"sdk.crm_token_{tag}"
    created = client.admin.upsert_system_configuration(
        endpoint, "https://crm.example.com/api", config_type="string", description="CRM endpoint", headers=root,
    )
    assert created["config"]["config_value"] == "https://crm.example.com/api"
    assert created["changes"] == [{"config_key": endpoint, "change": "created"}]
    client.admin.upsert_system_configuration(token, "crm-secret-value", is_sensitive=True, headers=root)
    seen = {e["config_key"]: e for e in client.admin.get_system_configuration(headers=root)["configs"]}
    assert seen[endpoint]["description"] == "CRM endpoint" and seen[token]["config_value"] == "crm-secret-value"

    tenant = new_tenant(platform.gateway_url)  # a company admin's API key with the admin scope
    as_admin = {e["config_key"]: e for e in tenant.client.admin.get_system_configuration()["configs"]}
    assert as_admin[endpoint]["config_value"] == "https://crm.example.com/api"
    assert as_admin[token]["config_value"] is None and as_admin[token]["is_masked"] is True
    with pytest.raises(KnowrithmAPIError) as refused:
        tenant.client.admin.upsert_system_configuration(endpoint, "https://evil.example.com")
    assert refused.value.status_code == 403
    with pytest.raises(KnowrithmAPIError) as invalid:
        client.admin.upsert_system_configuration("max_file_size", "huge", headers=root)
    assert invalid.value.status_code == 422 and invalid.value.response_data["error"] == "invalid_config"
    assert invalid.value.response_data["message"] == "config_value: max_file_size: expected an integer"
    removed = client.admin.upsert_system_configuration(token, None, headers=root)
    assert removed["changes"] == [{"config_key": token, "change": "removed"}]

