"""Company analytics from a known feed of real events (tests/feed.py), published through NATS.

The module shares one running app: the tests only read, and starting an app per test costs
seconds (its consumers stop one after another).

Three companies are fed once per module: `main` (whose numbers are checked exactly), `other`
(the same history: none of it may leak into `main`'s numbers) and `gone` (deleted afterwards:
it must answer as if empty). The expected numbers below are worked out from feed.py's table.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from knowrithm_analytics.projections.audit import is_audited
from knowrithm_common.identity import Principal, Role

from .feed import Feed, company_deleted, company_feed, publish_feeds

ROOT = Principal(kind="user", role=Role.SUPER_ADMIN, user_id=uuid.uuid4())


@pytest.fixture(scope="module")
async def feeds(client):
    main, other, gone = company_feed(), company_feed("Noise Ltd"), company_feed("Gone Inc")
    company_deleted(gone)
    await publish_feeds(client.app, [main, other, gone])
    return main, other, gone


def member(feed: Feed, who: str = "admin") -> Principal:
    role = Role.ADMIN if who == "admin" else Role.USER
    return Principal(kind="user", company_id=feed.company_id, user_id=feed[who], role=role)


async def get(call, path: str, principal: Principal, **params):
    return await call("GET", path, principal, params=params)


def day(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).date().isoformat()


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- dashboard ---------------------------------------------------------------------------------


async def test_admin_dashboard_counts_the_company_exactly(call, feeds):
    main, _, _ = feeds
    r = await get(call, "/api/v1/analytic/dashboard", member(main))
    assert r.status_code == 200
    body = r.json()
    assert body["core_metrics"] == {
        "scope": "company",
        "conversation_count": 4,
        "document_count": 3,
        "lead_count": 4,
        "total_users": 3,
        "connection_count": 3,  # DB1, DB2, DB4 (test_database_analytics.py checks the rest)
    }
    assert body["database_analytics"]["connection_status"] == {"active": 3, "inactive": 1}
    assert body["user_context"] == {
        "user_id": str(main["admin"]),
        "username": main.usernames["admin"],
        "company_id": str(main.company_id),
        "role": "admin",
        "is_admin": True,
        "email_verified": None,
        "two_factor_enabled": None,
    }
    company = body["company_analytics"]
    assert company["company_info"]["name"] == "Acme Analytics"
    assert instant(company["company_info"]["created_at"]) == main.noon(100)
    assert company["company_info"]["email"] == f"{main.company_id.hex}@example.com"
    assert company["company_info"]["is_active"] is True and company["company_info"]["updated_at"] is None
    assert company["company_info"]["logo"] is None  # no event carries it
    # ulf (deleted) is not a new user; ada registered 95 days ago, outside the 90 days
    assert company["user_growth_90days"] == [
        {"date": day(main.noon(10)), "new_users": 1},
        {"date": day(main.noon(5)), "new_users": 1},
    ]


async def test_admin_dashboard_conversations_and_messages(call, feeds):
    main, _, _ = feeds
    conversations = (await get(call, "/api/v1/analytic/dashboard", member(main))).json()[
        "conversation_analytics"
    ]
    assert conversations["conversation_status"] == {"active": 4}
    assert conversations["message_analytics"] == {
        "total_messages": 10,
        "total_tokens": 228,
        "average_tokens_per_message": 22.8,
        "average_processing_time": 1.6,  # assistant answers: 1000, 3000, 2000, 500, 1500 ms
        "average_rating": 3.67,
        "rated_messages": 2,
        "average_confidence_score": None,
    }
    assert conversations["message_roles"] == {"user": 5, "assistant": 5}
    # c4 (40 days ago) is outside the 30-day timeline; c5 is deleted
    assert conversations["activity_timeline"] == [
        {"date": day(main.noon(3)), "conversations": 1, "messages": 4},
        {"date": day(main.noon(2)), "conversations": 1, "messages": 2},
        {"date": day(main.noon(1)), "conversations": 1, "messages": 2},
    ]
    top = conversations["top_conversations"]
    assert [(t["id"], t["message_count"]) for t in top] == [
        (str(main["c1"]), 4),
        (str(main["c3"]), 2),
        (str(main["c2"]), 2),
        (str(main["c4"]), 2),
    ]
    assert instant(top[0]["last_activity"]) == main.at["m4"]
    assert top[0]["lead_email"] is None and top[0]["title"] is None
    assert conversations["lead_engagement"] == {
        "engaged_leads": 1,
        "total_conversions": 1,
        "average_satisfaction": 5.0,
    }


async def test_admin_dashboard_leads_agents_documents(call, feeds):
    main, _, _ = feeds
    body = (await get(call, "/api/v1/analytic/dashboard", member(main))).json()
    assert body["lead_analytics"] == {
        "lead_status_distribution": {"new": 1, "contacted": 0, "qualified": 1, "converted": 1, "lost": 1},
        "lead_sources": {"website": 2, "referral": 1, "unknown": 1},
        "daily_new_leads": [
            {"date": day(main.noon(6)), "count": 1},
            {"date": day(main.noon(5)), "count": 1},
            {"date": day(main.noon(2)), "count": 1},
        ],
        "consent_analytics": {"total_leads": 4, "marketing_consent_rate": 50.0, "data_consent_rate": None},
    }
    assert body["agent_analytics"] == {
        "agent_status_distribution": {"active": 1, "inactive": 1},
        "top_performing_agents": [
            {
                "name": "Sales Bot",
                "status": "active",
                "total_conversations": 3,
                "total_messages": 8,
                "average_rating": 3.67,
            },
            {
                "name": "Support Bot",
                "status": "inactive",
                "total_conversations": 1,
                "total_messages": 2,
                "average_rating": None,
            },
        ],
    }
    documents = body["document_analytics"]
    assert documents["daily_uploads"] == [
        {"date": day(main.noon(3)), "count": 1},
        {"date": day(main.noon(2)), "count": 1},
        {"date": day(main.noon(1)), "count": 1},
    ]
    assert documents["document_types"] == {"pdf": 2, "docx": 1}
    assert documents["processing_status"] == {"processed": 2, "failed": 1}
    assert documents["storage_analytics"] == {
        "total_size_bytes": 3670016,
        "total_size_mb": 3.5,
        "average_size_mb": 1.17,
        "largest_file_mb": 2.0,
        "total_words": 1500,
        "average_words": 750.0,
    }
    assert documents["top_users_by_documents"] == [
        {"username": main.usernames["uma"], "full_name": None, "document_count": 2},
        {"username": main.usernames["admin"], "full_name": None, "document_count": 1},
    ]
    assert body["performance_analytics"] == {
        "document_processing": {
            "average_processing_time_seconds": 3.0,
            "failed_documents": 1,
            "success_rate": 66.67,
        },
        "model_performance": [
            {
                "model": "gemini-2.5-flash",
                "message_count": 4,
                "average_processing_time": 1.875,
                "average_confidence": None,
            },
            {
                "model": "gpt-4o-mini",
                "message_count": 1,
                "average_processing_time": 0.5,
                "average_confidence": None,
            },
        ],
    }


async def test_admin_dashboard_people_logins_and_security(call, feeds):
    main, _, _ = feeds
    body = (await get(call, "/api/v1/analytic/dashboard", member(main))).json()
    logins: dict[str, int] = {}
    for moment in (
        main.at["login_admin"],
        main.noon(1),
        main.noon(2),
    ):  # uma twice, on two days; ute's failed
        logins[day(moment)] = logins.get(day(moment), 0) + 1
    assert body["activity_analytics"] == {
        "login_timeline": [{"date": d, "unique_logins": n} for d, n in sorted(logins.items())],
        "session_analytics": {
            "total_sessions": 3,
            "unique_ip_addresses": 2,
            "average_session_duration_minutes": None,
        },
    }
    security = body["security_analytics"]
    newest = security["recent_audit_events"][0]
    assert newest == {
        "event_type": "user.login",
        "category": "auth",
        "risk_level": "low",
        "timestamp": newest["timestamp"],
        "username": main.usernames["admin"],
    }
    assert instant(newest["timestamp"]) == main.at["login_admin"]
    week_ago = main.now - dt.timedelta(days=7)
    audited = [
        e
        for e in main.events
        if e.time >= week_ago and (e.type == "auth.audit.recorded.v1" or is_audited(e.type))
    ]
    risks = security["risk_distribution_7days"]
    assert set(risks) == {"low", "medium", "high", "critical"}
    assert sum(risks.values()) == len(audited)
    assert risks["medium"] >= 1 and risks["critical"] == 0  # the refused login at least
    assert security["user_security_status"] == {
        "total_users": 3,
        "verified_users": None,
        "two_factor_enabled": None,
        "locked_users": None,
    }
    assert body["user_management"] == {
        "active_users_24h": 2,  # ada and uma made requests in the last hour or two
        "role_distribution": {"admin": 1, "user": 2},
        "user_status_distribution": {"active": 2, "suspended": 1},
    }
    assert isinstance(body["system_metrics"]["system_health"], list)


async def test_user_dashboard_shows_only_their_own_data(call, feeds):
    main, _, _ = feeds
    r = await get(call, "/api/v1/analytic/dashboard", member(main, "uma"))
    assert r.status_code == 200
    body = r.json()
    # uma's conversations c1 and c4 (c5 is deleted), her documents D1 and D3
    assert body["core_metrics"] == {
        "scope": "personal",
        "conversation_count": 2,
        "document_count": 2,
        "lead_count": 0,
        "total_users": 1,
        "connection_count": 0,  # connections are created by admins
    }
    assert body["user_context"]["is_admin"] is False and body["user_context"]["role"] == "user"
    messages = body["conversation_analytics"]["message_analytics"]
    assert (messages["total_messages"], messages["total_tokens"]) == (6, 156)
    assert messages["average_processing_time"] == 1.833 and messages["average_rating"] == 3.0
    assert body["agent_analytics"]["agent_status_distribution"] == {"active": 1}
    assert [a["name"] for a in body["agent_analytics"]["top_performing_agents"]] == ["Sales Bot"]
    assert body["document_analytics"]["document_types"] == {"pdf": 2}
    assert body["activity_analytics"]["session_analytics"]["total_sessions"] == 2
    assert body["user_management"]["active_users_24h"] == 1


async def test_super_admin_sees_one_company_or_every_live_company(client, call, feeds):
    main, _, _ = feeds
    one = (await get(call, "/api/v1/analytic/dashboard", ROOT, company_id=str(main.company_id))).json()
    admin = (await get(call, "/api/v1/analytic/dashboard", member(main))).json()
    assert one["core_metrics"] == admin["core_metrics"]
    assert one["lead_analytics"] == admin["lead_analytics"]

    async def everything():
        body = (await get(call, "/api/v1/analytic/dashboard", ROOT)).json()
        assert (
            body["core_metrics"]["scope"] == "company" and body["company_analytics"]["company_info"] is None
        )
        return body["core_metrics"]

    # Other test modules' companies share the stream: compare before and after one more company.
    before = await everything()
    extra = company_feed("Extra")
    await publish_feeds(client.app, [extra])
    during = await everything()
    assert {k: during[k] - before[k] for k in before if k != "scope"} == {
        "conversation_count": 4,
        "document_count": 3,
        "lead_count": 4,
        "total_users": 3,
        "connection_count": 3,
    }
    deletion = company_deleted(extra)
    await publish_feeds(client.app, [Feed(extra.company_id, extra.now, events=[deletion])])
    assert await everything() == before


@pytest.mark.parametrize("path", ["/api/v1/analytic/dashboard", "/api/v1/analytic/leads", "/api/v1/overview"])
async def test_member_naming_another_company_gets_404_not_their_own_numbers(call, feeds, path):
    main, other, _ = feeds
    r = await get(call, path, member(main), company_id=str(other.company_id))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"
    assert (await get(call, path, member(main), company_id=str(main.company_id))).status_code == 200


async def test_deleted_company_answers_as_if_empty(call, feeds):
    _, _, gone = feeds
    body = (await get(call, "/api/v1/analytic/dashboard", member(gone))).json()
    assert body["core_metrics"] == {
        "scope": "company",
        "conversation_count": 0,
        "document_count": 0,
        "lead_count": 0,
        "total_users": 0,
        "connection_count": 0,
    }
    assert body["conversation_analytics"]["message_analytics"]["total_messages"] == 0
    assert body["company_analytics"]["company_info"] is None
    r = await get(call, f"/api/v1/analytic/agent/{gone['X']}", member(gone))
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    r = await get(call, "/api/v1/analytic/usage", member(gone))
    assert r.json()["api_usage"]["total_api_calls"] == 0


async def test_api_key_without_read_scope_is_forbidden(call, feeds):
    main, _, _ = feeds
    key = Principal(
        kind="api_key",
        company_id=main.company_id,
        user_id=main["admin"],
        role=Role.ADMIN,
        scopes=["write"],
        api_key_id=main["K1"],
    )
    r = await get(call, "/api/v1/analytic/dashboard", key)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


# --- agents ------------------------------------------------------------------------------------


async def test_agent_analytics_over_a_week(call, feeds):
    main, _, _ = feeds
    start, end = main.noon(7).isoformat(), main.now.isoformat()
    r = await get(
        call, f"/api/v1/analytic/agent/{main['X']}", member(main, "uma"), start_date=start, end_date=end
    )
    assert r.status_code == 200
    body = r.json()
    assert body["agent_info"] == {
        "id": str(main["X"]),
        "name": "Sales Bot",
        "status": "active",
        "model_name": "gemini-2.5-flash",
    }
    assert instant(body["date_range"]["start_date"]) == main.noon(7)
    assert body["conversation_metrics"] == {
        "total_conversations": 2,
        "active_conversations": 2,
        "avg_messages_per_conversation": 3.0,
    }
    assert body["message_metrics"] == {"total_messages": 6, "user_messages": 3, "assistant_messages": 3}
    assert body["performance_metrics"] == {
        "avg_response_time_seconds": 2.0,
        "max_response_time_seconds": 3.0,
        "min_response_time_seconds": 1.0,
    }
    assert body["token_usage"] == {"total_tokens": 168, "avg_tokens_per_message": 28.0}
    assert body["conversion_metrics"] == {
        "total_qualified": 1,
        "total_converted": 1,
        "total_lost": 0,
        "conversion_rate_percent": 50.0,
    }
    assert body["quality_metrics"] == {
        "avg_message_feedback": 3.0,
        "avg_satisfaction_rating": 5.0,
        "current_agent_rating": 3.67,
        "satisfaction_response_rate_percent": 50.0,
    }
    assert body["activity_trend"] == [
        {"date": day(main.noon(3)), "conversations": 1, "messages": 4},
        {"date": day(main.noon(2)), "conversations": 1, "messages": 2},
    ]
    assert body["top_sources"] == [{"source": "website", "conversation_count": 1}]


async def test_agent_analytics_window_leaves_out_what_happened_outside_it(call, feeds):
    main, _, _ = feeds
    r = await get(
        call,
        f"/api/v1/analytic/agent/{main['X']}",
        member(main),
        start_date=main.noon(45).isoformat(),
        end_date=main.noon(30).isoformat(),
    )
    body = r.json()
    assert body["conversation_metrics"]["total_conversations"] == 1  # c4 only
    assert body["message_metrics"] == {"total_messages": 2, "user_messages": 1, "assistant_messages": 1}
    assert body["conversion_metrics"] == {
        "total_qualified": 0,
        "total_converted": 0,
        "total_lost": 0,
        "conversion_rate_percent": 0.0,
    }  # L4, still new
    assert body["quality_metrics"]["avg_message_feedback"] is None
    assert body["quality_metrics"]["current_agent_rating"] == 3.67  # all-time
    # the window is half-open: ending exactly at c4's messages leaves them out
    r = await get(
        call,
        f"/api/v1/analytic/agent/{main['X']}",
        member(main),
        start_date=main.noon(45).isoformat(),
        end_date=main.at["c4"].isoformat(),
    )
    assert r.json()["message_metrics"]["total_messages"] == 0


async def test_performance_comparison_against_the_company_average(call, feeds):
    main, _, _ = feeds
    r = await get(
        call,
        f"/api/v1/analytic/agent/{main['X']}/performance-comparison",
        member(main),
        start_date=main.noon(7).isoformat(),
        end_date=main.now.isoformat(),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["agent_info"] == {"id": str(main["X"]), "name": "Sales Bot", "status": "active"}
    assert body["performance_comparison"] == {
        "conversations": {"agent_value": 2, "company_average": 1.5, "performance_vs_average_percent": 33.33},
        "total_messages": {"agent_value": 6, "company_average": 4.0, "performance_vs_average_percent": 50.0},
        "conversions": {"agent_value": 1, "company_average": 0.5, "performance_vs_average_percent": 100.0},
        # Y has no rating: the company average is X's own
        "satisfaction_rating": {
            "agent_value": 3.67,
            "company_average": 3.67,
            "performance_vs_average_percent": 0.0,
        },
        "response_time": {
            "agent_value": 2.0,
            "company_average": 1.25,
            "performance_vs_average_percent": 60.0,
        },
    }
    # nothing in the window: averages of 0 give no percentage
    r = await get(
        call,
        f"/api/v1/analytic/agent/{main['X']}/performance-comparison",
        member(main),
        start_date=main.noon(90).isoformat(),
        end_date=main.noon(80).isoformat(),
    )
    conversations = r.json()["performance_comparison"]["conversations"]
    assert conversations == {"agent_value": 0, "company_average": 0.0, "performance_vs_average_percent": None}


async def test_agent_stats_all_time(call, feeds):
    main, _, _ = feeds
    r = await get(call, f"/api/v1/agent/{main['X']}/stats", member(main, "uma"))
    assert r.status_code == 200
    body = r.json()
    assert instant(body.pop("created_at")) == main.noon(60)
    assert instant(body.pop("last_trained")) == main.at["D1_processed"]
    assert body == {
        "agent_id": str(main["X"]),
        "agent_name": "Sales Bot",
        "name": "Sales Bot",
        "status": "active",
        "llm_model": "gemini-2.5-flash",
        "llm_provider": None,
        "documents_count": 2,
        "databases_count": None,
        "total_conversations": 3,
        "total_messages": 8,
        "average_rating": 3.67,
        "avg_response_time_seconds": 1.875,
        "total_tokens": 204,
        "total_leads": 3,
        "converted_leads": 1,
        "conversion_rate_percent": 33.33,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/analytic/agent/{id}",
        "/api/v1/analytic/agent/{id}/performance-comparison",
        "/api/v1/agent/{id}/stats",
    ],
)
async def test_unknown_deleted_or_foreign_agent_is_404(call, feeds, path):
    main, other, _ = feeds
    for agent_id in (uuid.uuid4(), main["Z"], other["X"]):
        r = await get(call, path.format(id=agent_id), member(main))
        assert r.status_code == 404 and r.json()["error"] == "agent_not_found", agent_id
    r = await get(call, path.format(id=other["X"]), ROOT)  # a super admin reaches any company's agent
    assert r.status_code == 200


# --- conversations -----------------------------------------------------------------------------


async def test_conversation_analytics_of_one_conversation(call, feeds):
    main, _, _ = feeds
    r = await get(call, f"/api/v1/analytic/conversation/{main['c1']}", member(main, "uma"))
    assert r.status_code == 200
    body = r.json()
    assert (body["conversation_id"], body["agent_id"]) == (str(main["c1"]), str(main["X"]))
    assert body["conversation_status"] == {"active": 1}
    assert body["message_analytics"] == {
        "total_messages": 4,
        "total_tokens": 120,
        "average_tokens_per_message": 30.0,
        "average_processing_time": 2.0,
        "average_rating": 3.0,
        "rated_messages": 2,
        "average_confidence_score": None,
    }
    assert body["message_roles"] == {"user": 2, "assistant": 2}
    assert body["activity_timeline"] == [{"date": day(main.noon(3)), "conversations": 1, "messages": 4}]
    assert [t["id"] for t in body["top_conversations"]] == [str(main["c1"])]
    assert body["lead_engagement"] == {
        "engaged_leads": 0,
        "total_conversions": 0,
        "average_satisfaction": None,
    }
    lead_conversation = (
        await get(call, f"/api/v1/analytic/conversation/{main['c2']}", member(main))
    ).json()
    assert lead_conversation["lead_engagement"] == {
        "engaged_leads": 1,
        "total_conversions": 1,
        "average_satisfaction": 5.0,
    }


async def test_conversation_of_someone_else_deleted_or_foreign_is_404(call, feeds):
    main, other, _ = feeds
    cases = [
        (member(main, "uma"), main["c3"]),  # the admin's conversation: not uma's
        (member(main), main["c5"]),
        (member(main), other["c1"]),
        (member(main), uuid.uuid4()),
    ]
    for principal, conversation_id in cases:
        r = await get(call, f"/api/v1/analytic/conversation/{conversation_id}", principal)
        assert r.status_code == 404 and r.json()["error"] == "conversation_not_found"
    assert (await get(call, f"/api/v1/analytic/conversation/{main['c1']}", member(main))).status_code == 200


# --- leads and usage ---------------------------------------------------------------------------


async def test_lead_funnel_of_a_date_range(call, feeds):
    main, _, _ = feeds
    r = await get(
        call,
        "/api/v1/analytic/leads",
        member(main, "uma"),
        start_date=main.noon(7).isoformat(),
        end_date=main.now.isoformat(),
    )
    assert r.status_code == 200
    body = r.json()
    assert body["lead_status_distribution"] == {
        "new": 0,
        "contacted": 0,
        "qualified": 1,
        "converted": 1,
        "lost": 1,
    }
    assert body["lead_sources"] == {"website": 2, "referral": 1}
    assert body["daily_new_leads"] == [
        {"date": day(main.noon(6)), "count": 1},
        {"date": day(main.noon(5)), "count": 1},
        {"date": day(main.noon(2)), "count": 1},
    ]
    assert body["consent_analytics"] == {
        "total_leads": 3,
        "marketing_consent_rate": 66.67,
        "data_consent_rate": None,
    }
    assert body["conversion_rate_percent"] == 33.33
    old = (
        await get(
            call,
            "/api/v1/analytic/leads",
            member(main),
            start_date=day(main.noon(45)),
            end_date=day(main.noon(30)),
        )
    ).json()
    assert old["lead_status_distribution"] == {
        "new": 1,
        "contacted": 0,
        "qualified": 0,
        "converted": 0,
        "lost": 0,
    }
    assert old["conversion_rate_percent"] == 0.0
    empty = (
        await get(
            call,
            "/api/v1/analytic/leads",
            member(main),
            start_date=day(main.noon(90)),
            end_date=day(main.noon(80)),
        )
    ).json()
    assert empty["consent_analytics"]["total_leads"] == 0 and empty["conversion_rate_percent"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "last tuesday"},
        {"end_date": "2024-13-45"},
        {"start_date": "2024-02-01", "end_date": "2024-01-01"},
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/v1/analytic/leads", "/api/v1/analytic/usage", "/api/v1/analytic/agent/{X}"]
)
async def test_unreadable_or_reversed_dates_are_400(call, feeds, params, path):
    main, _, _ = feeds
    r = await get(call, path.format(X=main["X"]), member(main), **params)
    assert r.status_code == 400
    assert r.json()["success"] is False and r.json()["error"] == "invalid_date_range"


async def test_usage_of_the_last_30_days(call, feeds):
    main, _, _ = feeds
    r = await get(call, "/api/v1/analytic/usage", member(main))
    assert r.status_code == 200
    body = r.json()
    # r1..r5 (r6 is 40 days old): three errors (500, 404, 429)
    assert body["api_usage"] == {
        "total_api_calls": 5,
        "success_count": 2,
        "error_count": 3,
        "error_rate_percent": 60.0,
        "avg_response_time_ms": 292.0,
        "active_api_keys": 1,  # K2 revoked, K3 expired
    }
    assert body["endpoint_usage"] == [
        {"endpoint": "/api/v1/agent", "method": "GET", "call_count": 2, "avg_response_time_ms": 200.0},
        {
            "endpoint": "/api/v1/agent/{agent_id}",
            "method": "GET",
            "call_count": 1,
            "avg_response_time_ms": 50.0,
        },
        {
            "endpoint": "/api/v1/conversation/{conversation_id}/chat",
            "method": "POST",
            "call_count": 1,
            "avg_response_time_ms": 10.0,
        },
        {
            "endpoint": "/api/v1/document/upload",
            "method": "POST",
            "call_count": 1,
            "avg_response_time_ms": 1000.0,
        },
    ]
    assert body["top_client_ips"] == [
        {"ip_address": "10.0.0.2", "request_count": 2},
        {"ip_address": "10.0.0.1", "request_count": 1},
        {"ip_address": "10.0.0.3", "request_count": 1},
        {"ip_address": "10.0.0.4", "request_count": 1},
    ]
    # a plain user sees the same numbers, but not the clients' addresses
    as_user = (await get(call, "/api/v1/analytic/usage", member(main, "uma"))).json()
    assert as_user["top_client_ips"] is None and as_user["api_usage"] == body["api_usage"]
    trend: dict[str, list[int]] = {}
    for key, failed in (("r1", 0), ("r2", 0), ("r3", 1), ("r4", 1), ("r5", 1)):
        calls = trend.setdefault(day(main.at[key]), [0, 0])
        calls[0], calls[1] = calls[0] + 1, calls[1] + failed
    assert body["daily_usage_trend"] == [
        {"date": d, "api_calls": n, "errors": e, "success_rate_percent": round((n - e) / n * 100, 2)}
        for d, (n, e) in sorted(trend.items())
    ]
    assert body["agent_usage"] == {
        "total_agents": 2,
        "active_agents": 1,
        "avg_agent_rating": 3.67,
        "total_conversations": 3,
        "total_messages": 8,
    }
    assert body["token_usage"] == {
        "total_tokens": 192,
        "total_messages_processed": 8,
        "avg_tokens_per_message": 24.0,
    }
    assert body["storage_usage"] == {
        "total_content_size_bytes": 3670016,
        "total_conversations": 4,
        "total_messages": 10,
    }
