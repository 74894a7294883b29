"""Analytics through the gateway, from known activity.

Two companies act through the gateway: company A has one agent with one document, three
conversations of two turns each (12 messages), five leads walked to each funnel status, two
rated answers and seven calls with an API key of which three fail; company B does a little of
the same. Every analytics operation then reports exactly A's numbers to A and B's to B.
Redelivering A's events and rebuilding every projection from the stream change nothing.
A webhook receiver gets a signed delivery for a new lead, and a receiver that is down gets
retries and then a delivery logged as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import nats
import pytest

from .accounts import Account, api_key, key_headers, offline_settings, sign_up
from .conftest import projections_caught_up
from .knowledge import trained_agent, upload, wait_documents

pytestmark = pytest.mark.e2e

FUNNEL = {  # the statuses each lead is walked through, in order
    "new": [],
    "contacted": ["contacted"],
    "qualified": ["contacted", "qualified"],
    "converted": ["qualified", "converted"],
    "lost": ["lost"],
}


@dataclass
class Tally:
    """What the gateway saw from one company's credentials, counted by the client."""

    token: str
    key: str = ""
    requests: int = 0
    errors: int = 0
    key_requests: Counter = field(default_factory=Counter)  # (method, route) -> calls
    key_errors: Counter = field(default_factory=Counter)  # status -> calls

    def hook(self, response: httpx.Response) -> None:
        headers = response.request.headers
        if headers.get("authorization") == f"Bearer {self.token}" or (
            self.key and headers.get("x-api-key") == self.key
        ):
            self.requests += 1
            self.errors += response.status_code >= 400


@dataclass
class Company:
    account: Account
    agent_id: str
    conversations: list[str]
    answers: list[dict[str, Any]]
    leads: dict[str, str]  # final status -> lead id
    key: dict[str, str]
    tally: Tally


async def _counted_client(platform, tally: Tally) -> httpx.AsyncClient:
    async def on_response(response: httpx.Response) -> None:
        tally.hook(response)

    return httpx.AsyncClient(base_url=platform.gateway_url, timeout=60, event_hooks={"response": [on_response]})


async def _conversation(gateway: httpx.AsyncClient, account: Account, agent_id: str) -> str:
    """A new conversation with the agent (usable at once: read-your-writes)."""
    r = await gateway.post("/api/v1/conversation", json={"agent_id": agent_id}, headers=account.auth)
    assert r.status_code == 201, r.text
    return r.json()["conversation"]["id"]


async def _ask(gateway: httpx.AsyncClient, account: Account, conversation_id: str, question: str) -> dict:
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat?wait=true", json={"message": question},
                           headers=account.auth, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["message"]


async def _lead(gateway: httpx.AsyncClient, account: Account, agent_id: str, steps: list[str]) -> str:
    body = {"agent_id": agent_id, "first_name": "Lin", "last_name": "Lead", "source": "e2e",
            "email": f"lead-{uuid.uuid4().hex[:8]}@example.com", "consent_marketing": not steps}
    r = await gateway.post("/api/v1/lead", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    lead_id = r.json()["lead"]["id"]
    for status in steps:
        r = await gateway.put(f"/api/v1/lead/{lead_id}", json={"status": status}, headers=account.auth)
        assert r.status_code == 200, r.text
    return lead_id


async def _activity(platform, *, conversations: int, turns: int, funnel: dict[str, list[str]],
                    ratings: list[int], key_calls: int, key_failures: int) -> Company:
    """One company's known activity, every request through the gateway."""
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as plain:
        account = await sign_up(plain)  # public requests: no company yet
    tally = Tally(token=account.access_token)
    async with await _counted_client(platform, tally) as gateway:
        await offline_settings(gateway, account, is_default=True)
        r = await gateway.post("/api/v1/agent", json={"name": "Analytics"}, headers=account.auth)
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        fact = f"Parcels to island {uuid.uuid4().hex[:6]} leave every Tuesday."
        r = await upload(gateway, account, agent_id, [("islands.txt", fact.encode(), "text/plain")])
        assert r.status_code == 202, r.text
        await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])
        ids, answers = [], []
        for n in range(conversations):
            conversation_id = await _conversation(gateway, account, agent_id)
            ids.append(conversation_id)
            for t in range(turns):
                answers.append(await _ask(gateway, account, conversation_id, f"When do parcels leave? ({n}.{t})"))
        for answer, rating in zip(answers, ratings, strict=False):
            r = await gateway.post(f"/api/v1/message/{answer['id']}/feedback", json={"rating": rating},
                                   headers=account.auth)
            assert r.status_code == 201, r.text
        leads = {final: await _lead(gateway, account, agent_id, steps) for final, steps in funnel.items()}
        key = await api_key(gateway, account)
        tally.key = key["X-API-Key"]
        for n in range(key_calls):
            if n < key_failures:
                route, path = "/api/v1/agent/{agent_id}", f"/api/v1/agent/{uuid.uuid4()}"
            else:
                route, path = "/api/v1/agent", "/api/v1/agent"
            r = await gateway.get(path, headers=key_headers(key))
            assert r.status_code == (404 if n < key_failures else 200), r.text
            tally.key_requests[("GET", route)] += 1
            if r.status_code >= 400:
                tally.key_errors[r.status_code] += 1
    return Company(account, agent_id, ids, answers, leads, key, tally)


@pytest.fixture(scope="module")
async def activity(platform):
    """Company A's and company B's activity (once for the module), and the window holding it."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    a = await _activity(platform, conversations=3, turns=2, funnel=FUNNEL, ratings=[5, 3],
                        key_calls=7, key_failures=3)
    b = await _activity(platform, conversations=1, turns=1, funnel={"new": []}, ratings=[2],
                        key_calls=2, key_failures=0)
    await asyncio.sleep(1.5)  # the gateway publishes usage records about once a second
    end = dt.datetime.now(dt.UTC)
    await projections_caught_up(platform)
    return a, b, {"start_date": start.isoformat(), "end_date": end.isoformat()}


async def _get(gateway: httpx.AsyncClient, account: Account, path: str, **params: Any) -> dict[str, Any]:
    r = await gateway.get(path, params=params, headers=account.auth)
    assert r.status_code == 200, (path, r.text)
    return r.json()


async def numbers(gateway: httpx.AsyncClient, c: Company, window: dict[str, str]) -> dict[str, Any]:
    """Every analytics operation's numbers for company `c`, in a form that compares exactly."""
    acc = c.account
    dashboard = await _get(gateway, acc, "/api/v1/analytic/dashboard")
    agent = await _get(gateway, acc, f"/api/v1/analytic/agent/{c.agent_id}", **window)
    comparison = await _get(gateway, acc, f"/api/v1/analytic/agent/{c.agent_id}/performance-comparison", **window)
    conversation = await _get(gateway, acc, f"/api/v1/analytic/conversation/{c.conversations[0]}")
    leads = await _get(gateway, acc, "/api/v1/analytic/leads", **window)
    usage = await _get(gateway, acc, "/api/v1/analytic/usage", **window)
    statistics = await _get(gateway, acc, "/api/v1/company/statistics")
    statistics_by_id = await _get(gateway, acc, f"/api/v1/company/{acc.company['id']}/statistics")
    stats = await _get(gateway, acc, f"/api/v1/agent/{c.agent_id}/stats")
    overview = (await _get(gateway, acc, "/api/v1/overview"))["data"]
    trends = (await _get(gateway, acc, "/api/v1/usage-trends"))["data"]
    top = (await _get(gateway, acc, "/api/v1/top-endpoints"))["data"]
    performance = (await _get(gateway, acc, "/api/v1/api-key-performance"))["data"]
    errors = (await _get(gateway, acc, "/api/v1/error-analysis"))["data"]
    limits = (await _get(gateway, acc, "/api/v1/rate-limit-analysis"))["data"]
    detailed = (await _get(gateway, acc, f"/api/v1/detailed-usage/{c.key['id']}"))["data"]
    system = await _get(gateway, acc, "/api/v1/admin/system-metric")
    core = dashboard["core_metrics"]
    messages = dashboard["conversation_analytics"]["message_analytics"]
    return {
        "dashboard": {
            "scope": core["scope"], "conversations": core["conversation_count"], "leads": core["lead_count"],
            "documents": core["document_count"], "users": core["total_users"],
            "messages": messages["total_messages"], "rated": messages["rated_messages"],
            "rating": messages["average_rating"], "roles": dashboard["conversation_analytics"]["message_roles"],
            "agents": dashboard["agent_analytics"]["agent_status_distribution"],
            "lead_status": dashboard["lead_analytics"]["lead_status_distribution"],
        },
        "agent": {
            "conversations": agent["conversation_metrics"]["total_conversations"],
            "messages": agent["message_metrics"],
            "converted": agent["conversion_metrics"]["total_converted"],
            "lost": agent["conversion_metrics"]["total_lost"],
            "rating": agent["quality_metrics"]["avg_message_feedback"],
        },
        "comparison": {k: v["agent_value"] for k, v in comparison["performance_comparison"].items()
                       if k in ("conversations", "total_messages", "conversions")},
        "conversation": conversation["message_analytics"]["total_messages"],
        "leads": {"status": leads["lead_status_distribution"], "sources": leads["lead_sources"],
                  "new": sum(day["count"] for day in leads["daily_new_leads"]),
                  "marketing": leads["consent_analytics"]["marketing_consent_rate"]},
        "usage": {"calls": usage["api_usage"]["total_api_calls"], "errors": usage["api_usage"]["error_count"],
                  "messages": usage["token_usage"]["total_messages_processed"]},
        "statistics": statistics["statistics"],
        "statistics_by_id": statistics_by_id["statistics"],
        "stats": {k: stats[k] for k in ("total_conversations", "total_messages", "total_leads", "converted_leads")},
        "overview": overview["usage"]["total_requests"],
        "keys": overview["api_keys"],
        "trends": sum(point["total_requests"] for point in trends["trends"]),
        "top": sorted((e["method"], e["endpoint"], e["total_requests"]) for e in top["endpoints"]),
        "performance": [(k["api_key_id"], k["total_requests"]) for k in performance["api_keys"]],
        "errors": sorted((s["status_code"], s["count"]) for s in errors["status_code_breakdown"]),
        "detailed": detailed["total_logs"],
        "limits": sorted((k["api_key_id"], k["daily_requests"]) for k in limits["high_usage_api_keys"]),
        "users": system["metrics"]["users_registered"][0]["value"],
    }


def expected(c: Company, *, conversations: int, turns: int, ratings: list[int]) -> dict[str, Any]:
    messages = conversations * turns * 2
    statuses = {s: 0 for s in ("new", "contacted", "qualified", "converted", "lost")} | Counter(c.leads.keys())
    converted = statuses["converted"]
    key_calls = sum(c.tally.key_requests.values())
    return {
        "dashboard": {
            "scope": "company", "conversations": conversations, "leads": len(c.leads), "documents": 1, "users": 1,
            "messages": messages, "rated": len(ratings), "rating": sum(ratings) / len(ratings),
            "roles": {"user": messages // 2, "assistant": messages // 2},
            "agents": {"active": 1}, "lead_status": statuses,
        },
        "agent": {
            "conversations": conversations,
            "messages": {"total_messages": messages, "user_messages": messages // 2,
                         "assistant_messages": messages // 2},
            "converted": converted, "lost": statuses["lost"], "rating": sum(ratings) / len(ratings),
        },
        "comparison": {"conversations": conversations, "total_messages": messages, "conversions": converted},
        "conversation": turns * 2,
        "leads": {"status": statuses, "sources": {"e2e": len(c.leads)}, "new": len(c.leads),
                  "marketing": round(100 * statuses["new"] / len(c.leads), 2)},
        "usage": {"calls": c.tally.requests, "errors": c.tally.errors, "messages": messages},
        "statistics": {"total_leads": len(c.leads), "qualified_leads": statuses["qualified"],
                       "conversion_rate": round(100 * converted / len(c.leads), 2),
                       "active_conversations": conversations, "period_days": 30},
        "statistics_by_id": {"total_leads": len(c.leads), "qualified_leads": statuses["qualified"],
                             "conversion_rate": round(100 * converted / len(c.leads), 2),
                             "active_conversations": conversations, "period_days": 30},
        "stats": {"total_conversations": conversations, "total_messages": messages, "total_leads": len(c.leads),
                  "converted_leads": converted},
        "overview": key_calls,
        "keys": {"total": 1, "active": 1, "revoked": 0, "expired": 0},
        "trends": key_calls,
        "top": sorted((method, route, n) for (method, route), n in c.tally.key_requests.items()),
        "performance": [(c.key["id"], key_calls)],
        "errors": sorted(c.tally.key_errors.items()),
        "detailed": key_calls,
        "limits": [],
        "users": 1,
    }


async def test_every_analytics_operation_reports_exactly_each_companys_activity(platform, gateway, activity):
    a, b, window = activity
    assert await numbers(gateway, a, window) == expected(a, conversations=3, turns=2, ratings=[5, 3])
    assert await numbers(gateway, b, window) == expected(b, conversations=1, turns=1, ratings=[2])

    # A's audit log holds A's key creation by A's admin, and nothing of B's
    r = await gateway.get("/api/v1/audit-log", params={"action": "api_key.created"}, headers=a.account.auth)
    assert r.status_code == 200, r.text
    entries = r.json()["audit_logs"]
    assert [e["actor"]["id"] for e in entries] == [a.account.user["id"]]
    r = await gateway.get("/api/v1/audit-log", params={"per_page": 100}, headers=a.account.auth)
    assert {e["company_id"] for e in r.json()["audit_logs"]} == {a.account.company["id"]}

    # exports: A's five leads are over the e2e inline limit (3 rows): a task, then a download;
    # B's single lead comes back at once. Neither holds the other's leads.
    exported = await _export(gateway, a.account, {"type": "leads", "format": "json", **window})
    assert exported["count"] == 5
    assert {lead["id"] for lead in exported["leads"]} == set(a.leads.values())
    csv_text = await _export(gateway, a.account, {"type": "leads", "format": "csv", **window})
    assert len(csv_text.strip().splitlines()) == 1 + 5
    assert all(lead_id in csv_text for lead_id in a.leads.values())
    r = await gateway.post("/api/v1/analytic/export", json={"type": "leads", "format": "json", **window},
                           headers=b.account.auth)
    assert r.status_code == 200, r.text
    assert [lead["id"] for lead in r.json()["leads"]] == list(b.leads.values())


async def _export(gateway: httpx.AsyncClient, account: Account, body: dict[str, str]) -> Any:
    """Run a large export as its task, follow its progress and download the file."""
    r = await gateway.post("/api/v1/analytic/export", json=body, headers=account.auth)
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]
    deadline = time.monotonic() + 30
    while (task := (await gateway.get(status_url, headers=account.auth)).json())["status"] != "completed":
        assert task["status"] in ("pending", "running") and time.monotonic() < deadline, task
        await asyncio.sleep(0.2)
    r = await gateway.get(task["result"]["download_url"], headers=account.auth)
    assert r.status_code == 200, r.text
    return r.json() if body["format"] == "json" else r.text


async def _redeliver(platform, company_id: str) -> int:
    """Publish every event of `company_id` in the EVENTS stream again, as a new message."""
    nc = await nats.connect(platform.env["NATS_URL"])
    try:
        js = nc.jetstream()
        sub = await js.subscribe("events.>", ordered_consumer=True, deliver_policy=nats.js.api.DeliverPolicy.ALL)
        last = (await js.stream_info("EVENTS")).state.last_seq
        copies = []
        while True:
            msg = await sub.next_msg(timeout=5)
            with contextlib.suppress(ValueError):  # other suites park malformed messages here
                if json.loads(msg.data).get("company_id") == company_id:
                    copies.append((msg.subject, msg.data))
            if msg.metadata.sequence.stream >= last:
                break
        await sub.unsubscribe()
        for subject, data in copies:
            await js.publish(subject, data, headers={"Nats-Msg-Id": uuid.uuid4().hex})
        return len(copies)
    finally:
        await nc.close()


async def test_redelivered_events_and_a_rebuild_from_the_stream_change_no_number(platform, gateway, activity):
    a, _, window = activity
    before = await numbers(gateway, a, window)
    assert await _redeliver(platform, a.account.company["id"]) > 20
    await projections_caught_up(platform)
    assert await numbers(gateway, a, window) == before

    rebuild = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "knowrithm_analytics.rebuild", "--yes"],
        env=platform.env, capture_output=True, text=True, timeout=300,
    )
    assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
    await projections_caught_up(platform)
    assert await numbers(gateway, a, window) == before


class _Receiver:
    """A webhook receiver on 127.0.0.5 (the e2e allowlist) recording what it is sent."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.got.set()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.5", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.5:{server.server_address[1]}/hooks"
        finally:
            server.shutdown()
            server.server_close()


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in headers["x-knowrithm-signature"].split(","))
    mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


async def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_webhook_gets_a_signed_new_lead_and_a_down_receiver_is_retried_then_logged_failed(
    platform, gateway
):
    account, agent_id = await trained_agent(gateway)
    receiver = _Receiver()
    with receiver.serve() as url:
        r = await gateway.post("/api/v1/webhook", json={"url": url, "event_types": ["conversations.lead.*"]},
                               headers=account.auth)
        assert r.status_code == 201, r.text
        webhook, secret = r.json()["webhook"], r.json()["secret"]
        lead_id = await _lead(gateway, account, agent_id, [])
        assert await asyncio.to_thread(receiver.got.wait, 30)
        headers, body = receiver.deliveries[0]
        assert _verify(secret, headers, body)
        event = json.loads(body)
        assert event["type"] == "conversations.lead.registered.v1" and event["data"]["lead_id"] == lead_id
        assert event["company_id"] == account.company["id"]

    # the receiver is gone: the next lead's delivery is retried, then logged as failed
    await _lead(gateway, account, agent_id, [])

    async def failed() -> bool:
        r = await gateway.get(f"/api/v1/webhook/{webhook['id']}/deliveries", params={"status": "failed"},
                              headers=account.auth)
        assert r.status_code == 200, r.text
        return bool(r.json()["deliveries"])

    await _wait(failed)
    r = await gateway.get(f"/api/v1/webhook/{webhook['id']}/deliveries", params={"status": "failed"},
                          headers=account.auth)
    (delivery,) = r.json()["deliveries"]
    assert delivery["attempts"] == int(platform.env.get("ANALYTICS_WEBHOOK_MAX_ATTEMPTS", "3"))
    assert delivery["last_error"]
