"""API usage events: one record per request, published in batches on NATS."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
from nats.aio.msg import Msg

from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.gateway import ApiRequestsRecordedV1
from knowrithm_gateway.main import create_app

from .conftest import (
    Keys,
    ThreadedServer,
    bearer,
    clear_of_window_edge,
    free_port,
    gateway_settings,
    upstream_urls,
)

Records = dict[str, dict[str, Any]]


@contextlib.asynccontextmanager
async def usage_records(stack: Any) -> AsyncIterator[Records]:
    """Every usage record published while the block runs, by request id."""
    connection = await nats.connect(stack.nats_url)
    records: Records = {}

    async def collect(msg: Msg) -> None:
        envelope = EventEnvelope.model_validate_json(msg.data)
        assert envelope.type == ApiRequestsRecordedV1.event_type
        assert envelope.source == "gateway" and envelope.company_id is None
        assert msg.headers and msg.headers["Nats-Msg-Id"] == envelope.id
        for record in ApiRequestsRecordedV1.model_validate(envelope.data).requests:
            records[record.id] = record.model_dump(mode="json")

    await connection.subscribe(ApiRequestsRecordedV1.subject(), cb=collect)
    await connection.flush()
    try:
        yield records
    finally:
        await connection.close()


async def wait_for(records: Records, ids: set[str], timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):  # the test gateways publish every 0.1 s
        if ids <= records.keys():
            break
        await asyncio.sleep(0.05)
    assert ids <= records.keys(), f"missing {ids - records.keys()}"


def _rid() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


async def test_every_request_is_recorded_with_its_route_template_and_status(
    client: httpx.AsyncClient, make_token: Any, make_api_key: Any, stack: Any
) -> None:
    user_id, company_id = uuid.uuid4(), uuid.uuid4()
    user = bearer(make_token(sub=str(user_id), company_id=str(company_id)))
    key = make_api_key()
    sent = {
        "user": ("GET", f"/api/v1/admin/user/{uuid.uuid4()}", {**user, **_rid()}),
        "anonymous": ("GET", "/api/v1/auth/api-keys", _rid()),
        "api_key": ("GET", "/api/v1/agent/a1", {**key.headers, **_rid()}),
        "undeclared": ("GET", "/api/v1/company/c1/banner", {**user, **_rid()}),
        "unmatched": ("GET", "/api/v1/nothing-here", _rid()),
        "bad_token": ("POST", "/api/v1/agent", {**bearer("not.a.jwt"), **_rid()}),
    }
    async with usage_records(stack) as records:
        for method, path, headers in sent.values():
            await client.request(method, path, headers=headers)
        await wait_for(records, {headers["X-Request-ID"] for _, _, headers in sent.values()})
    got = {name: records[headers["X-Request-ID"]] for name, (_, _, headers) in sent.items()}
    expected = {  # route, status, credential
        "user": ("/api/v1/admin/user/{user_id}", 200, "user"),
        "anonymous": ("/api/v1/auth/api-keys", 401, "anonymous"),
        "api_key": ("/api/v1/agent/{agent_id}", 200, "api_key"),
        "undeclared": ("/api/v1/company", 200, "user"),
        "unmatched": ("unmatched", 404, "anonymous"),
        "bad_token": ("/api/v1/agent", 401, "user"),
    }
    for name, record in got.items():
        assert (record["route"], record["status"], record["credential"]) == expected[name], name
        assert record["method"] == sent[name][0]
        assert record["latency_ms"] > 0 and record["rate_limited"] is False
    assert (got["user"]["user_id"], got["user"]["company_id"]) == (str(user_id), str(company_id))
    assert got["user"]["api_key_id"] is None
    assert got["api_key"]["api_key_id"] == str(key.record.id)
    assert got["api_key"]["company_id"] == str(key.record.company_id)
    for name in ("anonymous", "unmatched", "bad_token"):  # no verified caller, no ids
        assert (got[name]["user_id"], got[name]["company_id"]) == (None, None), name


def _serve(keys: Keys, upstreams: Any, stack: Any, **options: Any) -> ThreadedServer:
    settings = gateway_settings(keys, stack, upstream_urls(upstreams), **options)
    return ThreadedServer(create_app(settings)).start()


async def test_rate_limited_request_is_recorded_as_rate_limited(
    keys: Keys, upstreams: Any, stack: Any
) -> None:
    server = _serve(
        keys, upstreams, stack, rate_limit_anonymous_per_minute=1,
        redis_url=stack.redis_url.rsplit("/", 1)[0] + "/8",
    )
    caller = {"X-Forwarded-For": f"10.9.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 250 + 1}"}
    await clear_of_window_edge()
    try:
        async with usage_records(stack) as records, httpx.AsyncClient(base_url=server.url) as http:
            statuses = {}
            for _ in range(2):
                request_id = _rid()
                statuses[request_id["X-Request-ID"]] = (
                    await http.get("/api/v1/country", headers={**caller, **request_id})
                ).status_code
            await wait_for(records, set(statuses))
    finally:
        server.stop()
    flags = sorted((statuses[i], records[i]["rate_limited"], records[i]["status"]) for i in statuses)
    assert flags == [(200, False, 200), (429, True, 429)]


def _dropped(metrics: str) -> float:
    match = re.search(r"^knowrithm_gateway_usage_records_dropped_total (\S+)$", metrics, re.M)
    return float(match.group(1)) if match else 0.0


async def test_usage_is_buffered_while_nats_is_down_and_the_oldest_dropped_past_the_limit(
    keys: Keys, upstreams: Any, stack: Any, make_token: Any
) -> None:
    server = _serve(
        keys, upstreams, stack, nats_url=f"nats://127.0.0.1:{free_port()}", usage_buffer_limit=2
    )
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            before = _dropped((await http.get("/metrics")).text)
            for _ in range(5):  # requests keep being served without NATS
                resp = await http.get("/api/v1/agent", headers=bearer(make_token()))
                assert resp.status_code == 200
            after = _dropped((await http.get("/metrics")).text)
    finally:
        server.stop()
    assert after - before == 3


async def test_buffered_usage_is_published_on_shutdown(
    keys: Keys, upstreams: Any, stack: Any, make_token: Any
) -> None:
    server = _serve(keys, upstreams, stack, usage_flush_seconds=120.0, usage_batch_size=1000)
    async with usage_records(stack) as records:
        ids = set()
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(3):
                request_id = _rid()
                ids.add(request_id["X-Request-ID"])
                await http.get("/api/v1/agent", headers={**bearer(make_token()), **request_id})
        await asyncio.sleep(0.5)
        assert not ids & records.keys()  # nothing yet: the next flush is two minutes away
        await asyncio.to_thread(server.stop)
        await wait_for(records, ids)
