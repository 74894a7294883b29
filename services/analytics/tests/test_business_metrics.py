"""Business numbers exported to Prometheus: GET /metrics shows what the projections hold."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import caught_up, eventually, publish
from .feed import company_feed


@pytest.fixture(scope="module")
def analytics_env(analytics_env):
    """The module's app recomputes its business gauges every 0.2 s."""
    return {**analytics_env, "ANALYTICS_BUSINESS_METRICS_REFRESH_SECONDS": "0.2"}


async def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


async def fresh_scrape(client) -> dict[tuple[str, tuple], float]:
    """A scrape taken after the gauges were recomputed from what is projected now."""
    since = time.time()
    refreshed = ("knowrithm_business_refresh_timestamp_seconds", ())
    return await eventually(lambda: scrape(client), lambda metrics: metrics.get(refreshed, 0) > since, timeout=5)


def value(metrics, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_show_the_business_numbers_of_a_new_company(client):
    app = client.app
    await caught_up(app)
    before = await fresh_scrape(client)
    feed = company_feed("Metrics Inc")  # its numbers are listed in feed.py's docstring
    for event in feed.events:
        await publish(app, event)
    await caught_up(app)
    after = await fresh_scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("knowrithm_business_companies") == 1
    assert grew("knowrithm_business_users") == 3  # ulf is deleted; ute (suspended) still counts
    assert grew("knowrithm_business_agents", status="active") == 1  # Z is deleted
    assert grew("knowrithm_business_agents", status="inactive") == 1
    assert grew("knowrithm_business_conversations") == 4  # c5 is deleted
    assert grew("knowrithm_business_messages", role="user") == 6  # facts: c5's too
    assert grew("knowrithm_business_messages", role="assistant") == 6
    assert grew("knowrithm_business_tokens", direction="input") == 266
    assert grew("knowrithm_business_tokens", direction="output") == 262
    for status in ("new", "qualified", "converted", "lost"):
        assert grew("knowrithm_business_leads", status=status) == 1  # L5 is deleted
    assert grew("knowrithm_business_lead_conversions") == 1
    assert grew("knowrithm_business_feedback", kind="rating") == 4
    assert grew("knowrithm_business_feedback", kind="thumbs_up") == 1
    assert grew("knowrithm_business_feedback", kind="thumbs_down") == 1
    assert grew("knowrithm_business_documents", status="processed") == 2  # D4 is deleted
    assert grew("knowrithm_business_documents", status="failed") == 1
    assert grew("knowrithm_business_api_requests_24h", outcome="success") == 2  # r1, r2; the rest are older

    rated = value(before, "knowrithm_business_feedback", kind="rating")
    average = value(before, "knowrithm_business_feedback_rating_average")
    expected = (average * rated + 4 + 2 + 5 + 1) / (rated + 4)
    assert value(after, "knowrithm_business_feedback_rating_average") == pytest.approx(expected)


async def test_metrics_count_projected_events_by_type_and_their_lag(client):
    app = client.app
    await caught_up(app)
    before = await scrape(client)
    feed = company_feed("Lag Ltd")
    for event in feed.events:
        await publish(app, event)
    await caught_up(app)
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    projected = "knowrithm_analytics_events_projected_total"
    assert grew(projected, type="conversations.message.created.v1") == 12
    assert grew(projected, type="auth.audit.recorded.v1") == 4
    assert grew(projected, type="gateway.api_requests.recorded.v1") == 1
    # Lag is now - event time: the feed is dated back, all but two events by more than an hour
    # (the admin's login, 30 minutes ago, and the batch of API requests, 59 minutes ago).
    assert grew("knowrithm_analytics_projection_lag_seconds_count") == len(feed.events)
    assert grew("knowrithm_analytics_projection_lag_seconds_bucket", le="900.0") == 0
    assert grew("knowrithm_analytics_projection_lag_seconds_bucket", le="3600.0") == 2
