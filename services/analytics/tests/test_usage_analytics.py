"""API-key analytics over a known feed of gateway usage events, published through NATS.

Company A has five keys: Primary (10/h, 100/day), Batch (1000/h, 20/day), Quiet, Old (revoked)
and Temp (expired). Its requests include errors and 429s, a request made with a user's token
(never counted: only API-key requests are) and one 40 days old; company B is noise.
"""

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest

from knowrithm_common.events import new_event
from knowrithm_common.events.auth import ApiKeyCreatedV1, ApiKeyRevokedV1
from knowrithm_common.events.gateway import ApiRequest, ApiRequestsRecordedV1
from knowrithm_common.identity import Principal, Role

from .conftest import caught_up, publish

NOW = dt.datetime.now(dt.UTC)
AGENT, LEAD, DOCUMENT = "/api/v1/agent", "/api/v1/lead", "/api/v1/document"


@dataclass
class Feed:
    company: uuid.UUID
    other: uuid.UUID
    keys: dict[str, uuid.UUID]
    requests: list[ApiRequest]


def _requests(company, keys, other, other_key) -> list[ApiRequest]:
    ago = lambda **kw: NOW - dt.timedelta(**kw)  # noqa: E731
    rows = []

    def add(key, when, method, route, status, latency, n=1, *, company_id=company, credential="api_key"):
        for _ in range(n):
            rows.append(ApiRequest(
                id=uuid.uuid4().hex, time=when, company_id=company_id, user_id=uuid.uuid4(),
                api_key_id=key, credential=credential, method=method, route=route, status=status,
                latency_ms=latency, rate_limited=status == 429, ip="203.0.113.7",
            ))

    k = keys
    add(k["Primary"], ago(days=3), "GET", AGENT, 200, 100, 2)
    add(k["Primary"], ago(days=3), "POST", DOCUMENT, 500, 300)
    add(k["Primary"], ago(minutes=10), "GET", AGENT, 200, 50, 8)
    add(k["Batch"], ago(hours=2), "GET", LEAD, 200, 20, 6)
    add(k["Batch"], ago(hours=2), "GET", LEAD, 429, 1, 2)
    add(k["Batch"], ago(hours=2), "GET", LEAD, 404, 10)
    add(k["Quiet"], ago(minutes=30), "GET", AGENT, 200, 10)
    add(k["Old"], ago(days=10), "GET", AGENT, 200, 200, 2)
    add(k["Old"], ago(days=2), "GET", AGENT, 429, 1)
    add(k["Temp"], ago(days=40), "GET", AGENT, 200, 100, 3)
    add(k["Temp"], ago(days=5), "GET", AGENT, 401, 5)
    add(None, ago(minutes=5), "GET", AGENT, 500, 999, 3, credential="user")  # a user's token: not counted
    add(other_key, ago(hours=1), "GET", AGENT, 200, 40, 5, company_id=other)  # company B
    return rows


async def _publish_feed(app) -> Feed:
    company, other = uuid.uuid4(), uuid.uuid4()
    limits = {"Primary": (10, 100), "Batch": (1000, 20), "Quiet": (100, 1000), "Old": (10, 100), "Temp": (10, 100)}
    keys = {name: uuid.uuid4() for name in limits}
    for name, (hourly, daily) in limits.items():
        expires = NOW - dt.timedelta(days=1) if name == "Temp" else None
        created = ApiKeyCreatedV1(
            api_key_id=keys[name], company_id=company, user_id=uuid.uuid4(), name=name, scopes=["read"],
            key_prefix=f"kr_{name.lower()}", rate_limit_per_hour=hourly, rate_limit_per_day=daily, expires_at=expires,
        )
        await publish(app, new_event(created, source="auth", company_id=company))
    await publish(app, new_event(ApiKeyRevokedV1(api_key_id=keys["Old"], company_id=company, key_hash="x" * 64),
                                 source="auth", company_id=company))
    other_key = uuid.uuid4()
    await publish(app, new_event(ApiKeyCreatedV1(api_key_id=other_key, company_id=other, user_id=uuid.uuid4(),
                                                 name="B key", scopes=["read"], key_prefix="kr_b"),
                                 source="auth", company_id=other))
    requests = _requests(company, keys, other, other_key)
    for start in range(0, len(requests), 10):  # batches, as the gateway sends them
        batch = ApiRequestsRecordedV1(requests=requests[start:start + 10])
        await publish(app, new_event(batch, source="gateway", company_id=None))
    await caught_up(app)
    return Feed(company, other, keys, requests)


@pytest.fixture(scope="module")
async def feed(client) -> Feed:
    return await _publish_feed(client.app)


def _admin(company):
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.ADMIN)


async def _get(call, path, principal, **params):
    r = await call("GET", path, principal, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    return body["data"]


async def test_overview_counts_keys_by_status_and_only_api_key_requests(call, feed):
    data = await _get(call, "/api/v1/overview", _admin(feed.company))
    assert data["api_keys"] == {"total": 5, "active": 3, "expired": 1, "revoked": 1}
    assert data["period_days"] == 30
    # 25 API-key requests in 30 days (not the 40-day-old ones, not the user's), 19 under 400
    assert data["usage"] == {"total_requests": 25, "success_rate": 76.0, "avg_response_time_ms": 57.92}

    week = await _get(call, "/api/v1/overview", _admin(feed.company), days=7)
    assert week["period_days"] == 7 and week["usage"]["total_requests"] == 23


async def test_super_admin_sees_every_company_or_the_one_named(call, feed):
    root = Principal(kind="user", role=Role.SUPER_ADMIN)
    everyone = await _get(call, "/api/v1/overview", root)  # other test modules' events count here too
    assert everyone["api_keys"]["total"] >= 6 and everyone["usage"]["total_requests"] >= 30
    assert await _get(call, "/api/v1/overview", root, company_id=str(feed.company)) == await _get(
        call, "/api/v1/overview", _admin(feed.company))
    one = await _get(call, "/api/v1/overview", root, company_id=str(feed.other))
    assert one["api_keys"] == {"total": 1, "active": 1, "expired": 0, "revoked": 0}
    assert one["usage"] == {"total_requests": 5, "success_rate": 100.0, "avg_response_time_ms": 40.0}


async def test_top_endpoints_ranks_by_requests_with_rates_and_latency(call, feed):
    data = await _get(call, "/api/v1/top-endpoints", _admin(feed.company), limit=2)
    assert data["endpoints"] == [
        {"endpoint": AGENT, "method": "GET", "total_requests": 15, "success_rate": 86.67, "avg_response_time": 67.73},
        {"endpoint": LEAD, "method": "GET", "total_requests": 9, "success_rate": 66.67, "avg_response_time": 14.67},
    ]
    everything = await _get(call, "/api/v1/top-endpoints", _admin(feed.company))
    assert [(e["method"], e["endpoint"], e["total_requests"]) for e in everything["endpoints"]] == [
        ("GET", AGENT, 15), ("GET", LEAD, 9), ("POST", DOCUMENT, 1)
    ]


async def test_api_key_performance_lists_keys_busiest_first_with_status(call, feed):
    data = await _get(call, "/api/v1/api-key-performance", _admin(feed.company))
    rows = {k["name"]: k for k in data["api_keys"]}
    assert [k["name"] for k in data["api_keys"]] == ["Primary", "Batch", "Old", "Quiet", "Temp"]
    primary = rows["Primary"]
    assert primary["api_key_id"] == str(feed.keys["Primary"]) and primary["key_prefix"] == "kr_primary"
    assert (primary["status"], primary["total_requests"], primary["success_rate"], primary["avg_response_time"]) == (
        "active", 11, 90.91, 81.82
    )
    last = max(r.time for r in feed.requests if r.api_key_id == feed.keys["Primary"])
    assert dt.datetime.fromisoformat(primary["last_used_at"]) == last
    assert (rows["Old"]["status"], rows["Old"]["total_requests"], rows["Old"]["success_rate"]) == ("revoked", 3, 66.67)
    assert (rows["Temp"]["status"], rows["Temp"]["total_requests"], rows["Temp"]["success_rate"]) == ("expired", 1, 0.0)
    # a key without requests has no rate (null), which is not "every request failed" (0.0)
    today = await _get(call, "/api/v1/api-key-performance", _admin(feed.company), days=1)
    idle = [(k["success_rate"], k["avg_response_time"]) for k in today["api_keys"] if k["total_requests"] == 0]
    assert idle and set(idle) == {(None, None)}
    # the last use is the key's last request ever, not only in the window
    assert dt.datetime.fromisoformat(rows["Temp"]["last_used_at"]) == NOW - dt.timedelta(days=5)
    top = await _get(call, "/api/v1/api-key-performance", _admin(feed.company), limit=2)
    assert [k["name"] for k in top["api_keys"]] == ["Primary", "Batch"]


async def test_error_analysis_breaks_down_failures(call, feed):
    data = await _get(call, "/api/v1/error-analysis", _admin(feed.company))
    assert data["total_errors"] == 6
    assert data["status_code_breakdown"] == [
        {"status_code": 429, "count": 3}, {"status_code": 401, "count": 1},
        {"status_code": 404, "count": 1}, {"status_code": 500, "count": 1},
    ]
    assert data["top_error_endpoints"] == [
        {"endpoint": LEAD, "method": "GET", "error_count": 3},
        {"endpoint": AGENT, "method": "GET", "error_count": 2},
        {"endpoint": DOCUMENT, "method": "POST", "error_count": 1},
    ]


async def test_rate_limit_analysis_lists_active_keys_near_limits_or_throttled(call, feed):
    data = await _get(call, "/api/v1/rate-limit-analysis", _admin(feed.company))
    assert data["period_days"] == 7 and data["threshold_pct"] == 80.0
    # Primary: 8 requests in the last hour of 10 allowed; Batch: 7 admitted today of 20 but two 429s.
    # Quiet is far below its limits; Old (revoked) had a 429 but can no longer be used.
    assert data["high_usage_api_keys"] == [
        {"api_key_id": str(feed.keys["Primary"]), "name": "Primary", "key_prefix": "kr_primary",
         "hourly_limit": 10, "hourly_requests": 8, "hourly_usage_pct": 80.0,
         "daily_limit": 100, "daily_requests": 8, "daily_usage_pct": 8.0, "rate_limited_requests": 0},
        {"api_key_id": str(feed.keys["Batch"]), "name": "Batch", "key_prefix": "kr_batch",
         "hourly_limit": 1000, "hourly_requests": 0, "hourly_usage_pct": 0.0,
         "daily_limit": 20, "daily_requests": 7, "daily_usage_pct": 35.0, "rate_limited_requests": 2},
    ]
    r = await call("GET", "/api/v1/rate-limit-analysis", _admin(feed.company), params={"days": 31})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"


async def test_usage_trends_one_point_per_period_with_requests(call, feed):
    mine = [r for r in feed.requests if r.company_id == feed.company and r.credential == "api_key"]
    daily = await _get(call, "/api/v1/usage-trends", _admin(feed.company), days=7)
    expected = Counter(r.time.date().isoformat() for r in mine if r.time >= NOW - dt.timedelta(days=7))
    assert daily["granularity"] == "daily"
    assert [(p["period"], p["total_requests"]) for p in daily["trends"]] == sorted(expected.items())

    hourly = await _get(call, "/api/v1/usage-trends", _admin(feed.company), days=1, granularity="hourly")
    hours = Counter(r.time.replace(minute=0, second=0, microsecond=0) for r in mine if r.time >= NOW - dt.timedelta(days=1))
    assert [(dt.datetime.fromisoformat(p["period"]), p["total_requests"]) for p in hourly["trends"]] == sorted(hours.items())
    batch_hour = next(p for p in hourly["trends"]
                      if dt.datetime.fromisoformat(p["period"]) == (NOW - dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0))
    assert (batch_hour["success_rate"], batch_hour["avg_response_time"]) == (66.67, 14.67)

    r = await call("GET", "/api/v1/usage-trends", _admin(feed.company), params={"granularity": "weekly"})
    assert r.status_code == 422


async def test_detailed_usage_of_one_key_by_day_and_endpoint(call, feed):
    data = await _get(call, f"/api/v1/detailed-usage/{feed.keys['Primary']}", _admin(feed.company))
    assert data["api_key"] == {"id": str(feed.keys["Primary"]), "key_prefix": "kr_primary", "name": "Primary",
                               "scopes": ["read"], "status": "active"}
    assert data["total_logs"] == 11 and data["period_days"] == 30
    recent_day = (NOW - dt.timedelta(minutes=10)).date().isoformat()
    assert data["daily_breakdown"] == [
        {"date": (NOW - dt.timedelta(days=3)).date().isoformat(), "total_requests": 3, "success_rate": 66.67},
        {"date": recent_day, "total_requests": 8, "success_rate": 100.0},
    ]
    assert data["endpoint_breakdown"] == [
        {"endpoint": AGENT, "method": "GET", "total_requests": 10, "success_rate": 100.0, "avg_response_time": 60.0},
        {"endpoint": DOCUMENT, "method": "POST", "total_requests": 1, "success_rate": 0.0, "avg_response_time": 300.0},
    ]


async def test_detailed_usage_of_unknown_or_foreign_key_is_404(call, feed):
    other_company_key = next(r.api_key_id for r in feed.requests if r.company_id == feed.other)
    for key in (other_company_key, uuid.uuid4(), "not-a-key"):
        r = await call("GET", f"/api/v1/detailed-usage/{key}", _admin(feed.company))
        assert r.status_code == 404 and r.json()["error"] == "api_key_not_found"
    root = Principal(kind="user", role=Role.SUPER_ADMIN)
    data = await _get(call, f"/api/v1/detailed-usage/{other_company_key}", root)
    assert data["total_logs"] == 5


async def test_read_scoped_api_key_of_an_admin_may_read_users_and_write_only_keys_may_not(call, feed):
    def key(scopes):
        return Principal(
            kind="api_key", company_id=feed.company, user_id=uuid.uuid4(), role=Role.ADMIN, scopes=scopes,
            api_key_id=feed.keys["Primary"])

    data = await _get(call, "/api/v1/overview", key(["read"]))
    assert data["usage"]["total_requests"] == 25
    user = Principal(kind="user", user_id=uuid.uuid4(), company_id=feed.company, role=Role.USER)
    for path in ("/api/v1/overview", "/api/v1/usage-trends", "/api/v1/top-endpoints", "/api/v1/api-key-performance",
                 "/api/v1/error-analysis", "/api/v1/rate-limit-analysis", f"/api/v1/detailed-usage/{feed.keys['Primary']}"):
        for principal in (user, key(["write"])):
            r = await call("GET", path, principal)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", path
