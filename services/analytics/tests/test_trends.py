"""GET /analytic/trends and /analytic/agents from the known feed (tests/feed.py), window days 7..1 ago.

In the window: conversations c1 (noon 3), c2 (noon 2), c3 (noon 1); c4 is 40 days old, c5 deleted.
Messages m1-m4 (day 3, latencies 1 s and 3 s), m5-m6 (day 2, 2 s), m7-m8 (day 1, 0.5 s).
Ratings f1 4 and f2 2 (day 3), f3 5 (day 2); f4 has thumbs only; f5 is in the deleted c5.
Leads L3 (day 6), L2 (day 5), L1 (day 2); L4 is 40 days old, L5 deleted.
"""

from __future__ import annotations

import pytest

from .feed import company_feed, publish_feeds
from .test_business_analytics import ROOT, get, member

pytestmark = pytest.mark.usefixtures("feeds")


@pytest.fixture(scope="module")
async def feeds(client):
    main, other = company_feed(), company_feed("Noise Ltd")
    await publish_feeds(client.app, [main, other])
    return main, other


def _window(main) -> dict[str, str]:
    return {"start_date": main.noon(7).date().isoformat(), "end_date": main.noon(0).date().isoformat()}


async def test_trends_have_one_point_per_day_with_the_companys_numbers(call, feeds):
    main, _ = feeds
    r = await get(call, "/api/v1/analytic/trends", member(main), **_window(main))
    assert r.status_code == 200, r.text
    body = r.json()
    days = {point["date"]: point for point in body["days"]}
    assert list(days) == [main.noon(n).date().isoformat() for n in range(7, 0, -1)]
    day = {n: days[main.noon(n).date().isoformat()] for n in range(1, 8)}
    assert day[3] == {"date": day[3]["date"], "conversations": 1, "messages": 4, "leads": 0,
                      "avg_rating": 3.0, "avg_response_time_seconds": 2.0}
    assert day[2] == {"date": day[2]["date"], "conversations": 1, "messages": 2, "leads": 1,
                      "avg_rating": 5.0, "avg_response_time_seconds": 2.0}
    assert day[1]["messages"] == 2 and day[1]["avg_rating"] is None
    assert day[1]["avg_response_time_seconds"] == 0.5
    assert day[7] == {"date": day[7]["date"], "conversations": 0, "messages": 0, "leads": 0,
                      "avg_rating": None, "avg_response_time_seconds": None}
    assert [day[n]["leads"] for n in (6, 5)] == [1, 1]
    assert body["totals"] == {"conversations": 3, "messages": 8, "leads": 3, "avg_rating": 3.67,
                              "avg_response_time_seconds": 1.625}


async def test_a_plain_users_trends_are_their_own(call, feeds):
    main, _ = feeds
    r = await get(call, "/api/v1/analytic/trends", member(main, "uma"), **_window(main))
    assert r.status_code == 200, r.text
    assert r.json()["totals"] == {"conversations": 1, "messages": 4, "leads": 0, "avg_rating": 3.0,
                                  "avg_response_time_seconds": 2.0}


async def test_trends_refuse_a_reversed_or_overlong_range(call, feeds):
    main, _ = feeds
    window = _window(main)
    reversed_range = {"start_date": window["end_date"], "end_date": window["start_date"]}
    r = await get(call, "/api/v1/analytic/trends", member(main), **reversed_range)
    assert r.status_code == 400 and r.json()["error"] == "invalid_date_range"
    r = await get(call, "/api/v1/analytic/trends", member(main), start_date="2020-01-01", end_date="2022-01-01")
    assert r.status_code == 400 and r.json()["error"] == "invalid_date_range"
    assert "366" in r.json()["message"] or "366" in str(r.json().get("detail"))


async def test_agents_side_by_side_lists_every_live_agent_of_the_company(call, feeds):
    main, other = feeds
    r = await get(call, "/api/v1/analytic/agents", member(main), **_window(main))
    assert r.status_code == 200, r.text
    assert r.json()["agents"] == [
        {"id": str(main["X"]), "name": "Sales Bot", "status": "active", "conversations": 2, "messages": 6,
         "avg_response_time_seconds": 2.0, "satisfaction_rating": 3.67, "conversions": 1},
        {"id": str(main["Y"]), "name": "Support Bot", "status": "inactive", "conversations": 1,
         "messages": 2, "avg_response_time_seconds": 0.5, "satisfaction_rating": None, "conversions": 0},
    ]
    r = await get(call, "/api/v1/analytic/agents", ROOT, company_id=str(other.company_id), **_window(main))
    assert [agent["id"] for agent in r.json()["agents"]] == [str(other["X"]), str(other["Y"])]
