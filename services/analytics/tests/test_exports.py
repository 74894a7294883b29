"""POST /analytic/export and the download of large exports, over a known feed (tests/feed.py).

Exports of up to 5 rows (ANALYTICS_EXPORT_INLINE_ROWS here) answer at once; main's usage log
has 6 requests, so exporting it runs the export job through the JOBS queue and a task.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import func, select, update

from knowrithm_analytics.exports.service import prune_expired
from knowrithm_analytics.models import ExportFile, shared
from knowrithm_common.events import new_event
from knowrithm_common.events.analytics import ExportData
from knowrithm_common.events.conversations import LeadRegisteredV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.tasks import create_task

from .conftest import caught_up, eventually, publish
from .feed import company_deleted, company_feed, publish_feeds

ROOT = Principal(kind="user", role=Role.SUPER_ADMIN, user_id=uuid.uuid4())
LEAD_COLUMNS = [
    "id",
    "agent_id",
    "conversation_id",
    "status",
    "source",
    "channel",
    "consent_marketing",
    "registered_at",
    "converted_at",
]


@pytest.fixture(scope="module")
def analytics_env(analytics_env):
    return {**analytics_env, "ANALYTICS_EXPORT_INLINE_ROWS": "5"}


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


async def export(call, principal, body, **params):
    return await call("POST", "/api/v1/analytic/export", principal, json=body, params=params)


async def finished_task(call, principal, task_id):
    async def status():
        r = await call("GET", f"/api/v1/tasks/{task_id}/status", principal)
        assert r.status_code == 200
        return r.json()

    return await eventually(status, lambda task: task["status"] in ("completed", "failed"))


async def test_small_json_export_of_leads_answers_at_once_without_personal_data(call, feeds):
    main, _, _ = feeds
    r = await export(call, member(main), {"type": "leads", "format": "json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["count"] == 4
    assert body["metadata"]["company_id"] == str(main.company_id)
    assert (body["metadata"]["export_type"], body["metadata"]["format"]) == ("leads", "json")
    assert body["metadata"]["date_range"]["start_date"] is None
    leads = body["leads"]
    assert [row["id"] for row in leads] == [str(main[k]) for k in ("L4", "L3", "L2", "L1")]  # by registration
    assert all(list(row) == LEAD_COLUMNS for row in leads)  # ids, states and dates: no names, e-mails, phones
    converted = leads[-1]
    assert {
        k: converted[k]
        for k in ("agent_id", "conversation_id", "status", "source", "channel", "consent_marketing")
    } == {
        "agent_id": str(main["X"]),
        "conversation_id": str(main["c2"]),
        "status": "converted",
        "source": "website",
        "channel": "widget",
        "consent_marketing": True,
    }
    assert dt.datetime.fromisoformat(converted["converted_at"]) == main.at["L1_converted"]

    week = await export(
        call,
        member(main),
        {"type": "leads", "start_date": main.noon(7).isoformat(), "end_date": main.now.isoformat()},
    )
    assert [row["id"] for row in week.json()["leads"]] == [str(main[k]) for k in ("L3", "L2", "L1")]


async def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(client, call):
    """A lead's source comes from anonymous widget visitors: `=HYPERLINK(...)` must stay text."""
    company = uuid.uuid4()
    for source in ("=HYPERLINK(\"http://evil.example\")", "@SUM(A1)", "-2+3", "newsletter"):
        lead = LeadRegisteredV1(lead_id=uuid.uuid4(), channel="widget", source=source, status="new")
        await publish(client.app, new_event(lead, source="conversations", company_id=company))
    await caught_up(client.app)
    admin = Principal(kind="user", company_id=company, user_id=uuid.uuid4(), role=Role.ADMIN)
    r = await export(call, admin, {"type": "leads", "format": "csv"})
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["source"] for row in rows) == sorted(
        ["'=HYPERLINK(\"http://evil.example\")", "'@SUM(A1)", "'-2+3", "newsletter"])


async def test_small_csv_export_is_an_attachment(call, feeds):
    main, _, _ = feeds
    r = await export(call, member(main), {"type": "leads", "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="knowrithm-leads-') and disposition.endswith('.csv"')
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == LEAD_COLUMNS and len(rows) == 5
    l4 = dict(zip(rows[0], rows[1], strict=True))
    assert (l4["id"], l4["status"], l4["source"], l4["conversation_id"], l4["consent_marketing"]) == (
        str(main["L4"]),
        "new",
        "",
        "",
        "false",
    )


async def test_conversations_and_agents_exports_carry_their_numbers(call, feeds):
    main, _, _ = feeds
    conversations = (await export(call, member(main), {"type": "conversations"})).json()
    assert conversations["count"] == 4  # c5 is deleted
    first = conversations["conversations"][1]
    assert first["id"] == str(main["c1"])
    assert {
        k: first[k]
        for k in ("agent_id", "agent_name", "entity_type", "entity_id", "message_count", "total_tokens")
    } == {
        "agent_id": str(main["X"]),
        "agent_name": "Sales Bot",
        "entity_type": "user",
        "entity_id": str(main["uma"]),
        "message_count": 4,
        "total_tokens": 120,
    }
    agents = (await export(call, member(main), {"type": "agents", "format": "json"})).json()
    assert [
        (
            a["name"],
            a["status"],
            a["model"],
            a["total_conversations"],
            a["total_messages"],
            a["average_rating"],
        )
        for a in agents["agents"]
    ] == [
        ("Sales Bot", "active", "gemini-2.5-flash", 3, 8, 3.67),
        ("Support Bot", "inactive", "gpt-4o-mini", 1, 2, None),
    ]


async def test_large_export_runs_as_a_task_and_is_downloaded(call, feeds):
    main, other, _ = feeds
    admin = member(main)
    r = await export(call, admin, {"type": "usage", "format": "json"})
    assert r.status_code == 202
    accepted = r.json()
    assert (
        accepted["status"] == "accepted"
        and accepted["status_url"] == f"/api/v1/tasks/{accepted['task_id']}/status"
    )
    task = await finished_task(call, admin, accepted["task_id"])
    assert (task["status"], task["progress"], task["stage"]) == ("completed", 100, "done")
    result = task["result"]
    assert (result["count"], result["format"]) == (6, "json")
    assert dt.datetime.fromisoformat(result["expires_at"]) > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    download = await call("GET", result["download_url"], admin)
    assert download.status_code == 200
    assert download.headers["content-disposition"].endswith('.json"')
    body = download.json()
    assert body["count"] == 6 and body["metadata"]["export_type"] == "usage"
    logs = body["usage_logs"]
    assert [row["id"] for row in logs] == [main.request_ids[k] for k in ("r6", "r5", "r3", "r4", "r2", "r1")]
    assert logs[0] | {"created_at": None} == {
        "id": main.request_ids["r6"],
        "created_at": None,
        "endpoint": "/api/v1/agent",
        "method": "GET",
        "status_code": 200,
        "response_time_ms": 40.0,
        "ip_address": "10.0.0.1",
    }
    # another company's admin knows neither the task nor the file; a plain user may not download
    foreign = member(other)
    assert (await call("GET", accepted["status_url"], foreign)).status_code == 404
    r = await call("GET", result["download_url"], foreign)
    assert r.status_code == 404 and r.json()["error"] == "export_not_found"
    r = await call("GET", result["download_url"], member(main, "uma"))
    assert r.status_code == 403


async def test_large_csv_export_downloads_as_csv_until_it_expires(client, call, feeds):
    main, _, _ = feeds
    admin = member(main)
    r = await export(call, admin, {"type": "usage", "format": "csv", "end_date": main.now.isoformat()})
    assert r.status_code == 202
    result = (await finished_task(call, admin, r.json()["task_id"]))["result"]
    download = await call("GET", result["download_url"], admin)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == [
        "id",
        "created_at",
        "endpoint",
        "method",
        "status_code",
        "response_time_ms",
        "ip_address",
    ]
    assert [row[0] for row in rows[1:]] == [main.request_ids[k] for k in ("r6", "r5", "r3", "r4", "r2", "r1")]
    assert rows[2][4] == "429"

    export_id = uuid.UUID(result["download_url"].split("/")[-2])
    async with client.app.state.db.sessions() as session, session.begin():  # a day later
        await session.execute(
            update(ExportFile)
            .where(ExportFile.id == export_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    r = await call("GET", result["download_url"], admin)
    assert r.status_code == 404 and r.json()["error"] == "export_not_found"
    # the sampler's housekeeping deletes the expired file (and nothing unexpired)
    async with client.app.state.db.sessions() as session, session.begin():
        assert await prune_expired(session, dt.datetime.now(dt.UTC)) >= 1
        assert await session.get(ExportFile, export_id) is None
        assert await session.scalar(select(func.count()).where(ExportFile.expires_at < dt.datetime.now(dt.UTC))) == 0


async def test_an_export_job_that_cannot_run_fails_its_task(client, call, feeds):
    main, _, _ = feeds
    async with client.app.state.db.sessions() as session, session.begin():
        task_id = await create_task(
            session, shared.tasks, company_id=main.company_id, kind="analytics_export"
        )
    job = new_event(
        ExportData(task_id=task_id, export_type="invoices", format="json"),
        source="analytics",
        company_id=main.company_id,
    )
    await client.app.state.nats.js.publish(ExportData.subject(), job.model_dump_json().encode())
    task = await finished_task(call, member(main), task_id)
    assert task["status"] == "failed" and task["error"].startswith("The export failed")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "invoices"}, "invalid_export_type"),
        ({"type": "leads", "format": "xlsx"}, "invalid_export_format"),
        ({"type": "leads", "start_date": "yesterday"}, "invalid_date_range"),
        (
            {"type": "leads", "start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"},
            "invalid_date_range",
        ),
    ],
)
async def test_bad_requests_are_400(call, feeds, body, code):
    main, _, _ = feeds
    r = await export(call, member(main), body)
    assert r.status_code == 400
    assert r.json()["success"] is False and r.json()["error"] == code


async def test_who_may_export(call, feeds):
    main, _, gone = feeds
    r = await export(call, member(main, "uma"), {"type": "leads"})
    assert r.status_code == 403
    key = Principal(
        kind="api_key",
        company_id=main.company_id,
        user_id=main["admin"],
        role=Role.ADMIN,
        scopes=["read"],
        api_key_id=main["K1"],
    )
    assert (await export(call, key, {"type": "leads"})).json()["count"] == 4
    r = await export(call, ROOT, {"type": "leads"})
    assert r.status_code == 400 and r.json()["error"] == "company_id_required"
    r = await export(call, ROOT, {"type": "leads"}, company_id=str(main.company_id))
    assert r.status_code == 200 and r.json()["count"] == 4
    r = await export(call, member(gone), {"type": "leads"})  # a deleted company has nothing to export
    assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["leads"] == []
