"""System metrics: samples taken on request (a task) and by the periodic sampler, and who sees which."""

import datetime as dt
import itertools
import uuid

import pytest
from sqlalchemy import func, insert, select

from knowrithm_analytics.models import SystemMetricSample
from knowrithm_analytics.system.sampler import SAMPLE_LOCK_KEY
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.events import new_event
from knowrithm_common.events.auth import CompanyCreatedV1
from knowrithm_common.events.gateway import ApiRequest, ApiRequestsRecordedV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import environment, gateway_call, running_app, service_env

from .conftest import KEYS, caught_up, eventually, publish

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


def _admin(company):
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.ADMIN)


async def _feed(app, company, *, statuses, latencies, at=None):
    """Publish one usage batch of requests made by the company's users at `at` (default: a second ago,
    after the interval of the app's first scheduled sample, so only requested samples count them here)."""
    at = at or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    requests = [
        ApiRequest(id=uuid.uuid4().hex, time=at, company_id=company, user_id=uuid.uuid4(), credential="user",
                   method="GET", route="/api/v1/agent", status=status, latency_ms=latency)
        for status, latency in zip(statuses, latencies, strict=True)
    ]
    await publish(app, new_event(ApiRequestsRecordedV1(requests=requests), source="gateway", company_id=None))


async def _metrics(call, principal, path="/api/v1/admin/system-metric", **params):
    r = await call("GET", path, principal, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert dt.datetime.fromisoformat(body["generated_at"])
    return body["metrics"]


def _requested(points):
    """The points of samples taken on request (a scheduled sample of this interval may count the same requests)."""
    return [p for p in points if p["labels"]["sample"] == "requested"]


async def _sample_now(call, principal, **params):
    """POST a sample request and wait for its task; returns the final task status."""
    r = await call("POST", "/api/v1/system-metric", principal, params=params)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["status_url"] == f"/api/v1/tasks/{accepted['task_id']}/status"

    async def status():
        return (await call("GET", accepted["status_url"], principal)).json()

    return await eventually(status, lambda task: task["status"] in ("completed", "failed"), timeout=10)


async def test_admin_requests_a_sample_of_their_company_and_sees_it(client, call):
    company, other = uuid.uuid4(), uuid.uuid4()
    await _feed(client.app, company, statuses=[200, 200, 500, 404], latencies=[10, 20, 30, 40])
    await _feed(client.app, other, statuses=[200], latencies=[999])
    await caught_up(client.app)

    task = await _sample_now(call, _admin(company))
    assert (task["status"], task["progress"], task["stage"]) == ("completed", 100, "completed")
    result = task["result"]
    assert result["company_id"] == str(company)
    assert result["metrics"] == {"api_requests": 4, "error_rate_percent": 50.0, "avg_latency_ms": 25.0,
                                 "p95_latency_ms": 38.5}

    metrics = await _metrics(call, _admin(company))
    assert _requested(metrics["api_requests"]) == [{"labels": {"company_id": str(company), "sample": "requested"},
                                                    "timestamp": result["sampled_at"], "value": 4.0}]
    assert [p["value"] for p in _requested(metrics["p95_latency_ms"])] == [38.5]
    assert metrics["users_registered"][0]["value"] == 0
    # a company sees neither the platform's metrics nor another company's samples
    assert "projection_backlog" not in metrics and "companies_registered" not in metrics
    assert _requested((await _metrics(call, _admin(other))).get("api_requests", [])) == []


async def test_super_admin_samples_the_platform_and_every_company(client, call):
    company = uuid.uuid4()
    await caught_up(client.app)
    companies = (await _metrics(call, ROOT))["companies_registered"][0]["value"]
    await publish(client.app, new_event(CompanyCreatedV1(company_id=company, name="Sampled", email="s@example.com"),
                                        source="auth", company_id=company))
    await _feed(client.app, company, statuses=[200, 503], latencies=[5, 15])
    await caught_up(client.app)

    task = await _sample_now(call, ROOT)
    assert task["status"] == "completed", task
    result = task["result"]
    assert result["company_id"] is None and result["companies_sampled"] >= 1
    platform = result["metrics"]
    # the projections had applied everything (caught up) and nothing was published since
    assert platform["api_requests"] >= 2 and platform["projection_backlog"] == 0
    assert {"events_processed", "webhook_deliveries_pending", "webhook_deliveries_failed"} <= set(platform)

    metrics = await _metrics(call, ROOT)
    assert metrics["companies_registered"][0]["value"] == companies + 1 and "users_registered" in metrics
    consumer = client.app.state.settings.projections_consumer
    assert {"consumer": consumer, "sample": "requested"} in [p["labels"] for p in metrics["projection_backlog"]]
    # the company's own numbers were sampled too, and its admin sees them
    mine = await _metrics(call, _admin(company))
    assert [p["value"] for p in _requested(mine["api_requests"])] == [2.0]
    assert [p["value"] for p in _requested(mine["error_rate_percent"])] == [50.0]
    by_query = await _metrics(call, ROOT, company_id=str(company))
    assert _requested(by_query["api_requests"]) == _requested(mine["api_requests"])


async def test_the_first_scheduled_sample_is_taken_at_start(client, call):
    def scheduled_points(metrics):
        return [p for p in metrics.get("api_requests", ()) if p["labels"] == {"sample": "scheduled"}]

    # The sampler takes its first sample as the app starts, beside the first request (the app
    # runs for the module: this test may be its first).
    metrics = await eventually(lambda: _metrics(call, ROOT), scheduled_points, timeout=10)
    scheduled = scheduled_points(metrics)
    interval = client.app.state.settings.system_metric_sample_seconds
    newest = dt.datetime.fromisoformat(scheduled[-1]["timestamp"])
    assert dt.datetime.now(dt.UTC) - newest < dt.timedelta(seconds=interval)


async def test_company_metric_path_checks_the_company(client, call):
    company = uuid.uuid4()
    await publish(client.app, new_event(CompanyCreatedV1(company_id=company, name="Acme", email="a@example.com"),
                                        source="auth", company_id=company))
    await caught_up(client.app)
    path = f"/api/v1/super-admin/company/{company}/system-metric"
    metrics = await _metrics(call, ROOT, path)
    assert metrics["users_registered"] == [{"labels": {"company_id": str(company)},
                                            "timestamp": metrics["users_registered"][0]["timestamp"], "value": 0}]
    assert "companies_registered" not in metrics
    assert "users_registered" in await _metrics(call, _admin(company), path)  # an admin names their own

    for principal, target in ((ROOT, uuid.uuid4()), (_admin(uuid.uuid4()), company)):
        r = await call("GET", f"/api/v1/super-admin/company/{target}/system-metric", principal)
        assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_users_and_keys_without_admin_scope_are_forbidden(call):
    company = uuid.uuid4()
    user = Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.USER)
    read_key = Principal(kind="api_key", company_id=company, user_id=uuid.uuid4(), role=Role.ADMIN,
                         scopes=["read"], api_key_id=uuid.uuid4())
    for principal in (user, read_key):
        for method, path in (("POST", "/api/v1/system-metric"), ("GET", "/api/v1/admin/system-metric"),
                             ("GET", f"/api/v1/super-admin/company/{company}/system-metric")):
            r = await call(method, path, principal)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (method, path)


# --- the periodic sampler, on a database of its own sampled every second -------------------------------

INTERVAL = 1.0


@pytest.fixture(scope="module")
def fast_env(stack, analytics_env):
    url = stack.create_database("analytics_test_system_metrics_fast")
    upgrade(package="knowrithm_analytics", schema="analytics", url=url)
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url, assertion=KEYS,
        extra={
            "ENCRYPTION_KEY": analytics_env["ENCRYPTION_KEY"],
            "ANALYTICS_PROJECTIONS_CONSUMER": f"analytics-test-{uuid.uuid4().hex[:8]}",
            "ANALYTICS_WEBHOOKS_CONSUMER": f"analytics-webhooks-test-{uuid.uuid4().hex[:8]}",
            "ANALYTICS_SYSTEM_METRIC_SAMPLE_SECONDS": str(INTERVAL),
        },
    )


def _app(env):
    from knowrithm_analytics.main import create_app

    with environment(env):
        return create_app()


async def test_scheduled_samples_count_each_request_once_prune_old_ones_and_never_overlap(fast_env):
    first, second = _app(fast_env), _app(fast_env)
    async with running_app(first) as client, running_app(second):
        call = gateway_call(client, KEYS.signer())
        await caught_up(first)  # the events of earlier tests, replayed by this new consumer
        company = uuid.uuid4()
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
        async with first.state.db.sessions() as session, session.begin():
            await session.execute(insert(SystemMetricSample).values(
                id=uuid.uuid4(), time=old, company_id=company, metric_name="api_requests", metric_type="counter",
                value=1, labels={}))
        # While one replica holds the sampling lock the others skip; the usage event reaches the
        # projections meanwhile (however slowly), and the next sample's interval starts where the last ended.
        async with first.state.db.engine.connect() as lock:
            await lock.scalar(select(func.pg_advisory_lock(SAMPLE_LOCK_KEY)))
            try:
                await _feed(first, company, statuses=[200, 200, 429], latencies=[10, 10, 40],
                            at=dt.datetime.now(dt.UTC))
                await caught_up(first)
            finally:
                await lock.scalar(select(func.pg_advisory_unlock(SAMPLE_LOCK_KEY)))
                await lock.commit()

        async def counted():
            return (await _metrics(call, _admin(company))).get("api_requests", [])

        async def scheduled():
            platform = (await _metrics(call, ROOT))["api_requests"]
            return [dt.datetime.fromisoformat(p["timestamp"]) for p in platform if p["labels"] == {"sample": "scheduled"}]

        points = await eventually(counted, lambda points: sum(p["value"] for p in points) >= 3, every=0.2)
        assert [(p["value"], p["labels"]) for p in points] == [(3.0, {"company_id": str(company), "sample": "scheduled"})]
        # later samples do not count those requests again
        counted_at = dt.datetime.fromisoformat(points[0]["timestamp"])
        await eventually(scheduled, lambda times: sum(t > counted_at for t in times) >= 2, every=0.2)
        assert [p["value"] for p in await counted()] == [3.0]

        async with first.state.db.sessions() as session:
            pruned = await session.scalar(select(func.count()).where(SystemMetricSample.time <= old))
        assert pruned == 0

        # Two replicas ran side by side all along: one scheduled sample per interval, never two.
        times = await scheduled()
        assert len(times) >= 3
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.9 * INTERVAL, gaps
