"""GET /company/statistics and /company/{company_id}/statistics over a known feed (tests/feed.py).

Leads registered in the last `days` days (default 30): main's are L1 (2 days ago, converted),
L2 (5 days, qualified), L3 (6 days, lost); L4 is 40 days old and L5 deleted. Conversations
with messages in the period: c1, c2, c3 (c4's are 40 days old, c5 is deleted).
"""

from __future__ import annotations

import uuid

import pytest

from knowrithm_common.identity import Principal, Role

from .feed import Feed, company_deleted, company_feed, publish_feeds

ROOT = Principal(kind="user", role=Role.SUPER_ADMIN, user_id=uuid.uuid4())
THIRTY_DAYS = {
    "total_leads": 3,
    "qualified_leads": 1,
    "conversion_rate": 33.33,
    "active_conversations": 3,
    "period_days": 30,
}


@pytest.fixture(scope="module")
async def feeds(client):
    main, other, gone = company_feed(), company_feed("Noise Ltd"), company_feed("Gone Inc")
    company_deleted(gone)
    await publish_feeds(client.app, [main, other, gone])
    return main, other, gone


def member(feed, who="admin"):
    return Principal(
        kind="user",
        company_id=feed.company_id,
        user_id=feed[who],
        role=Role.ADMIN if who == "admin" else Role.USER,
    )


async def statistics(call, path, principal, **params):
    return await call("GET", path, principal, params=params)


async def test_members_get_their_company_statistics_for_30_days_by_default(call, feeds):
    main, _, _ = feeds
    for principal in (member(main), member(main, "uma")):
        for path in ("/api/v1/company/statistics", f"/api/v1/company/{main.company_id}/statistics"):
            r = await statistics(call, path, principal)
            assert r.status_code == 200
            assert r.json() == {"success": True, "statistics": THIRTY_DAYS}


async def test_days_choose_the_period(call, feeds):
    main, _, _ = feeds
    r = await statistics(call, "/api/v1/company/statistics", member(main), days=4)
    # only L1 registered in the last 4 days, and it converted
    assert r.json()["statistics"] == {
        "total_leads": 1,
        "qualified_leads": 0,
        "conversion_rate": 100.0,
        "active_conversations": 3,
        "period_days": 4,
    }
    r = await statistics(call, "/api/v1/company/statistics", member(main), days=60)
    assert r.json()["statistics"] == {
        "total_leads": 4,
        "qualified_leads": 1,
        "conversion_rate": 25.0,
        "active_conversations": 4,
        "period_days": 60,
    }


@pytest.mark.parametrize("days", ["0", "-3", "many"])
async def test_unusable_days_are_refused(call, feeds, days):
    main, _, _ = feeds
    r = await statistics(call, "/api/v1/company/statistics", member(main), days=days)
    assert r.status_code == 422 and r.json()["error"] == "validation_error"


async def test_another_company_or_an_unknown_one_is_404(call, feeds):
    main, other, _ = feeds
    for company_id in (other.company_id, uuid.uuid4()):
        r = await statistics(call, f"/api/v1/company/{company_id}/statistics", member(main))
        assert r.status_code == 404 and r.json()["error"] == "company_not_found"
    r = await statistics(call, f"/api/v1/company/{uuid.uuid4()}/statistics", ROOT)
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_super_admin_reads_any_company_and_the_whole_platform(call, feeds):
    main, other, gone = feeds
    r = await statistics(call, f"/api/v1/company/{other.company_id}/statistics", ROOT)
    assert r.status_code == 200 and r.json()["statistics"] == THIRTY_DAYS
    r = await statistics(call, "/api/v1/company/statistics", ROOT, company_id=str(main.company_id))
    assert r.json()["statistics"] == THIRTY_DAYS
    r = await statistics(call, f"/api/v1/company/{gone.company_id}/statistics", ROOT)
    assert r.status_code == 200
    assert r.json()["statistics"] == {
        "total_leads": 0,
        "qualified_leads": 0,
        "conversion_rate": None,
        "active_conversations": 0,
        "period_days": 30,
    }


async def test_super_admin_platform_statistics_count_every_live_company(client, call, feeds):
    async def platform():
        r = await statistics(call, "/api/v1/company/statistics", ROOT)
        return r.json()["statistics"]

    # Other test modules' companies share the stream: compare before and after one more company.
    before = await platform()
    extra = company_feed("Extra")
    await publish_feeds(client.app, [extra])
    during = await platform()
    assert {k: during[k] - before[k] for k in ("total_leads", "qualified_leads", "active_conversations")} == {
        "total_leads": 3,
        "qualified_leads": 1,
        "active_conversations": 3,
    }
    deletion = company_deleted(extra)
    await publish_feeds(client.app, [Feed(extra.company_id, extra.now, events=[deletion])])
    assert await platform() == before


async def test_a_company_without_activity_has_zero_and_no_rate(call, feeds):
    quiet = Principal(kind="user", company_id=uuid.uuid4(), user_id=uuid.uuid4(), role=Role.ADMIN)
    r = await statistics(call, "/api/v1/company/statistics", quiet)
    assert r.json() == {
        "success": True,
        "statistics": {
            "total_leads": 0,
            "qualified_leads": 0,
            "conversion_rate": None,
            "active_conversations": 0,
            "period_days": 30,
        },
    }
