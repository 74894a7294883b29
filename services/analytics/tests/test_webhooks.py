"""Webhooks: registration through the API, signed deliveries to a real local receiver, retries,
the delivery log. Events reach the app through the embedded NATS JetStream, as in production."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from knowrithm_analytics.models import WebhookDelivery
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.conversations import LeadRegisteredV1, LeadUpdatedV1, MessageCreatedV1
from knowrithm_common.identity import Principal, Role

from .conftest import eventually, publish

RECEIVER_HOST = "127.0.0.9"  # allowlisted below; every other private address stays refused
MAX_ATTEMPTS = 3
API = "/api/v1/webhook"


@pytest.fixture(scope="module")
def analytics_env(analytics_env):
    return {
        **analytics_env,
        "ANALYTICS_WEBHOOK_ALLOWLIST": f"{RECEIVER_HOST}/32",
        "ANALYTICS_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "ANALYTICS_WEBHOOK_BACKOFF_SECONDS": "0.2",
        "ANALYTICS_WEBHOOK_TIMEOUT_SECONDS": "5",
        "ANALYTICS_WEBHOOKS_PER_COMPANY": "3",
    }


# --- a real receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on RECEIVER_HOST recording every POST and answering `status` with `body`.

    `gate`, when set, holds every answer until the test opens it.
    """

    def __init__(self, port: int = 0, *, status: int = 200, body: bytes = b"ok", headers=None) -> None:
        self.posts: list[Received] = []
        self.status, self.body, self.extra_headers = status, body, headers or {}
        self.gate: threading.Event | None = None
        self.server = ThreadingHTTPServer((RECEIVER_HOST, port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    async def count(self) -> int:
        """How many POSTs arrived (for `eventually`)."""
        return len(self.posts)

    def url(self, path: str = "/hook") -> str:
        return f"http://{RECEIVER_HOST}:{self.port}{path}"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.gate is not None:
                    receiver.gate.wait(10)
                self.send_response(receiver.status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on RECEIVER_HOST nobody listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind((RECEIVER_HOST, 0))
        return s.getsockname()[1]


# --- helpers ------------------------------------------------------------------------------------


def admin(company: uuid.UUID, role: Role = Role.ADMIN) -> Principal:
    return Principal(kind="user", company_id=company, user_id=uuid.uuid4(), role=role)


async def register(call, company, url, event_types=("conversations.lead.*",), **extra):
    body = {"url": url, "event_types": list(event_types), **extra}
    r = await call("POST", API, admin(company), json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries(call, company, webhook_id, **params):
    r = await call("GET", f"{API}/{webhook_id}/deliveries", admin(company), params=params)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


async def settled(call, company, webhook_id, count=1):
    """The delivery log once `count` deliveries exist and none is pending."""
    return await eventually(
        lambda: deliveries(call, company, webhook_id),
        lambda ds: len(ds) >= count and all(d["status"] != "pending" for d in ds),
    )


def lead_event(company, **fields):
    data = LeadRegisteredV1(lead_id=uuid.uuid4(), agent_id=uuid.uuid4(), channel="widget", status="new", **fields)
    actor = Actor(kind="user", id=uuid.uuid4(), ip="203.0.113.9", user_agent="Mozilla/5.0",
                  impersonator_id=uuid.uuid4())  # a super admin acting as the user
    return new_event(data, source="conversations", company_id=company, actor=actor)


def verify_signature(secret: str, received: Received) -> bool:
    """What a receiver does (docs/events.md): recompute the HMAC of "<t>.<raw body>"."""
    parts = dict(item.split("=", 1) for item in received.headers["x-knowrithm-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


# --- delivery -----------------------------------------------------------------------------------


async def test_new_lead_is_delivered_once_signed_and_other_events_are_not(client, call):
    company, other = uuid.uuid4(), uuid.uuid4()
    with Receiver() as receiver:
        created = await register(call, company, receiver.url())
        secret, webhook_id = created["secret"], created["webhook"]["id"]
        lead = lead_event(company)
        await publish(client.app, lead)
        await publish(client.app, lead)  # redelivered: the same event id
        await publish(client.app, lead_event(other))  # another company's lead
        message = MessageCreatedV1(message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), agent_id=uuid.uuid4(),
                                   role="user", status="completed")
        await publish(client.app, new_event(message, source="conversations", company_id=company))  # not subscribed
        # Events are fanned out in stream order: once this one is logged, the others were seen.
        last = new_event(LeadUpdatedV1(lead_id=uuid.uuid4(), status="contacted", previous_status="new",
                                       changed=["status"]),
                         source="conversations", company_id=company)
        await publish(client.app, last)

        log = await settled(call, company, webhook_id, count=2)
        await eventually(receiver.count, lambda n: n >= 2)

    assert sorted(d["event_id"] for d in log) == sorted([lead.id, last.id])
    assert [p.headers["x-knowrithm-event-id"] for p in receiver.posts].count(lead.id) == 1
    assert len(receiver.posts) == 2
    post = next(p for p in receiver.posts if p.headers["x-knowrithm-event-id"] == lead.id)
    entry = next(d for d in log if d["event_id"] == lead.id)
    assert verify_signature(secret, post)
    assert not verify_signature("whsec_" + "x" * 43, post)
    # the envelope, without who was where (actor IP, user agent, impersonator) or our trace ids
    sent = json.loads(post.body)
    expected = json.loads(lead.model_dump_json())
    expected["actor"] = {k: v for k, v in expected["actor"].items() if k in ("kind", "id")}
    del expected["traceparent"]
    assert sent == expected
    assert post.path == "/hook"
    assert post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"] == "Knowrithm-Webhooks/1.0"
    assert post.headers["x-knowrithm-event-type"] == "conversations.lead.registered.v1"
    assert post.headers["x-knowrithm-delivery-id"] == entry["id"]
    assert entry["status"] == "succeeded" and entry["attempts"] == 1 and entry["last_status_code"] == 200
    assert entry["last_error"] is None and entry["completed_at"] is not None
    assert entry["event_type"] == "conversations.lead.registered.v1"


async def test_receiver_down_is_retried_then_logged_failed_and_a_manual_retry_delivers(client, call):
    company = uuid.uuid4()
    port = closed_port()
    created = await register(call, company, f"http://{RECEIVER_HOST}:{port}/hook")
    webhook_id = created["webhook"]["id"]
    lead = lead_event(company)
    await publish(client.app, lead)

    [failed] = await settled(call, company, webhook_id)
    assert failed["status"] == "failed" and failed["attempts"] == MAX_ATTEMPTS
    assert failed["last_status_code"] is None and "refused" in failed["last_error"]
    assert failed["completed_at"] is not None
    assert await deliveries(call, company, webhook_id, status="succeeded") == []

    with Receiver(port) as receiver:  # the receiver is back
        r = await call("POST", f"{API}/{webhook_id}/deliveries/{failed['id']}/retry", admin(company))
        assert r.status_code == 202, r.text
        assert r.json()["delivery_id"] == failed["id"] and r.json()["delivery"]["status"] == "pending"
        [done] = await settled(call, company, webhook_id)

    assert done["status"] == "succeeded" and done["attempts"] == MAX_ATTEMPTS + 1
    assert done["last_error"] is None and done["last_status_code"] == 200
    [post] = receiver.posts
    assert json.loads(post.body)["id"] == lead.id and verify_signature(created["secret"], post)
    again = await call("POST", f"{API}/{webhook_id}/deliveries/{failed['id']}/retry", admin(company))
    assert again.status_code == 409 and again.json()["error"] == "delivery_not_failed"


async def metric(client, sample: str) -> float:
    """One sample of the app's /metrics, e.g. `knowrithm_webhook_deliveries_total{outcome="failed"}`."""
    text = (await client.get("/metrics")).text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(sample + " ")]
    return float(values[0]) if values else 0.0


async def test_receiver_answering_500_gets_every_attempt_and_the_error_is_logged(client, call):
    company = uuid.uuid4()
    retried = 'knowrithm_webhook_deliveries_total{outcome="retried"}'
    given_up = 'knowrithm_webhook_deliveries_total{outcome="failed"}'
    before = (await metric(client, retried), await metric(client, given_up))
    with Receiver(status=500, body=b"boom " + b"x" * 200_000) as receiver:
        created = await register(call, company, receiver.url())
        lead = lead_event(company)
        await publish(client.app, lead)
        [failed] = await settled(call, company, created["webhook"]["id"])

    assert len(receiver.posts) == MAX_ATTEMPTS
    assert {p.headers["x-knowrithm-event-id"] for p in receiver.posts} == {lead.id}
    assert {p.headers["x-knowrithm-delivery-id"] for p in receiver.posts} == {failed["id"]}
    assert failed["status"] == "failed" and failed["attempts"] == MAX_ATTEMPTS
    assert failed["last_status_code"] == 500
    assert failed["last_error"].startswith("HTTP 500 Internal Server Error: boom")
    assert len(failed["last_error"]) < 400  # the receiver's 200 kB answer is not kept
    after = (await metric(client, retried), await metric(client, given_up))
    assert (after[0] - before[0], after[1] - before[1]) == (MAX_ATTEMPTS - 1, 1)
    assert await metric(client, "knowrithm_webhook_delivery_seconds_count") >= MAX_ATTEMPTS


async def test_redirect_is_not_followed(client, call):
    company = uuid.uuid4()
    with Receiver(status=307, body=b"", headers={"Location": "/elsewhere"}) as receiver:
        created = await register(call, company, receiver.url())
        await publish(client.app, lead_event(company))
        [failed] = await settled(call, company, created["webhook"]["id"])
    assert {p.path for p in receiver.posts} == {"/hook"}
    assert failed["status"] == "failed" and failed["last_status_code"] == 307


async def test_webhook_deleted_between_attempts_stops_delivery(client, call):
    company = uuid.uuid4()
    with Receiver(status=503) as receiver:
        receiver.gate = threading.Event()
        created = await register(call, company, receiver.url())
        webhook_id = created["webhook"]["id"]
        await publish(client.app, lead_event(company))
        await eventually(receiver.count, lambda n: n == 1)
        r = await call("DELETE", f"{API}/{webhook_id}", admin(company))
        assert r.status_code == 200 and r.json()["success"] is True
        receiver.gate.set()  # the first attempt now fails; the next one finds the webhook deleted

        async def delivery():  # the API no longer shows a deleted webhook: read its log from the table
            async with client.app.state.db.sessions() as session:
                query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == uuid.UUID(webhook_id))
                return (await session.execute(query)).scalar_one_or_none()

        done = await eventually(delivery, lambda d: d is not None and d.status != "pending")
    assert len(receiver.posts) == 1
    assert done.status == "failed" and done.last_error == "webhook disabled" and done.attempts == 1


async def test_test_ping_and_rotated_secret_sign_with_the_new_secret(call):
    company = uuid.uuid4()
    with Receiver() as receiver:
        created = await register(call, company, receiver.url(), event_types=["auth.user.registered.v1"])
        webhook_id = created["webhook"]["id"]
        rotated = await call("POST", f"{API}/{webhook_id}/rotate-secret", admin(company))
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != created["secret"]
        assert rotated.json()["webhook"]["secret_hint"].endswith(new_secret[-4:])

        r = await call("POST", f"{API}/{webhook_id}/test", admin(company))
        assert r.status_code == 202, r.text
        delivery_id = r.json()["delivery_id"]
        [done] = await settled(call, company, webhook_id)

    [post] = receiver.posts
    assert done["id"] == delivery_id and done["status"] == "succeeded" and done["event_type"] == "webhook.test"
    assert post.headers["x-knowrithm-event-type"] == "webhook.test"
    assert json.loads(post.body)["data"]["webhook_id"] == webhook_id
    assert verify_signature(new_secret, post) and not verify_signature(created["secret"], post)


# --- the API ------------------------------------------------------------------------------------


async def test_register_list_get_update_delete(call):
    company = uuid.uuid4()
    url = f"http://{RECEIVER_HOST}:8080/hooks/knowrithm"
    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["conversations.lead.registered.v1", "agents.*"],
                                     "description": "CRM sync"})
    assert r.status_code == 201, r.text
    body = r.json()
    webhook, secret = body["webhook"], body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert webhook["url"] == url and webhook["company_id"] == str(company) and webhook["is_active"] is True
    assert webhook["event_types"] == ["conversations.lead.registered.v1", "agents.*"]
    assert webhook["secret_hint"].endswith(secret[-4:]) and secret not in json.dumps(webhook)

    listed = (await call("GET", API, admin(company))).json()
    assert [w["id"] for w in listed["webhooks"]] == [webhook["id"]] and listed["total"] == 1
    assert secret not in json.dumps(listed)
    one = await call("GET", f"{API}/{webhook['id']}", admin(company))
    assert one.status_code == 200 and one.json()["webhook"]["description"] == "CRM sync"

    patched = await call("PATCH", f"{API}/{webhook['id']}", admin(company), json={"event_types": ["*"], "is_active": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["webhook"]["event_types"] == ["*"] and patched.json()["webhook"]["is_active"] is False
    assert patched.json()["webhook"]["description"] == "CRM sync"
    ping = await call("POST", f"{API}/{webhook['id']}/test", admin(company))
    assert ping.status_code == 409 and ping.json()["error"] == "webhook_inactive"

    assert (await call("DELETE", f"{API}/{webhook['id']}", admin(company))).status_code == 200
    gone = await call("GET", f"{API}/{webhook['id']}", admin(company))
    assert gone.status_code == 404 and gone.json()["error"] == "webhook_not_found"
    assert (await call("GET", API, admin(company))).json()["webhooks"] == []


async def test_every_change_to_a_webhook_is_in_the_audit_log_without_its_secret_or_path(call):
    company = uuid.uuid4()
    url = f"http://{RECEIVER_HOST}:8080/hooks/token-in-the-path"
    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["agents.*"]})
    webhook_id, secret = r.json()["webhook"]["id"], r.json()["secret"]
    assert (await call("PATCH", f"{API}/{webhook_id}", admin(company), json={"is_active": False})).status_code == 200
    rotated = (await call("POST", f"{API}/{webhook_id}/rotate-secret", admin(company))).json()["secret"]
    assert (await call("DELETE", f"{API}/{webhook_id}", admin(company))).status_code == 200

    async def trail():
        r = await call("GET", "/api/v1/audit-log", admin(company), params={"action": "analytics.webhook.*"})
        assert r.status_code == 200, r.text
        return r.json()["audit_logs"]

    entries = await eventually(trail, lambda logs: len(logs) == 4)
    changes = [(e["detail"]["change"], e["risk_level"], e["target"]["id"]) for e in reversed(entries)]
    assert changes == [("created", "low", webhook_id), ("updated", "low", webhook_id),
                       ("secret_rotated", "medium", webhook_id), ("deleted", "medium", webhook_id)]
    assert entries[2]["detail"]["changed"] == ["is_active"] and entries[0]["detail"]["url_host"] == RECEIVER_HOST
    assert all(e["category"] == "analytics" and e["actor"]["kind"] == "user" for e in entries)
    text = json.dumps(entries)
    assert secret not in text and rotated not in text and "token-in-the-path" not in text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "is not an http or https address"),
        ("not a url at all", "is not an http or https address"),
        ("https://", "has no host name"),
        ("http://user:pw@example.com/hook", "contains a user name or password"),
        ("http://127.0.0.1:9000/hook", "private or local address (127.0.0.1); sending webhooks to it is not allowed"),
        ("http://10.1.2.3/hook", "private or local address (10.1.2.3)"),
        ("http://169.254.169.254/latest/meta-data", "private or local address (169.254.169.254)"),
        ("http://[::1]:8000/hook", "private or local address (::1)"),
        ("http://localhost:8000/hook", "local or internal host; sending webhooks to it is not allowed"),
    ],
)
async def test_url_that_may_not_receive_is_refused_with_the_reason(call, url, reason):
    r = await call("POST", API, admin(uuid.uuid4()), json={"url": url, "event_types": ["*"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "url_not_allowed" and reason in r.json()["message"]


async def test_unknown_and_internal_event_types_are_refused_by_name(call):
    company = uuid.uuid4()
    url = f"http://{RECEIVER_HOST}:8080/hook"
    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["conversations.lead.registered.v1",
                                                                "leads.created", "nothing.*"]})
    assert r.status_code == 400 and r.json()["error"] == "unknown_event_type"
    assert r.json()["detail"]["unknown"] == ["leads.created", "nothing.*"]

    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["gateway.api_requests.recorded.v1"]})
    assert r.status_code == 400 and r.json()["error"] == "unknown_event_type"
    assert "usage telemetry" in r.json()["detail"]["not_subscribable"]["gateway.api_requests.recorded.v1"]

    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["analytics.webhook.deliver.v1"]})
    assert r.status_code == 400 and r.json()["detail"]["unknown"] == ["analytics.webhook.deliver.v1"]
    assert (await call("POST", API, admin(company), json={"url": url, "event_types": []})).status_code == 422

    created = await register(call, company, url)
    r = await call("PATCH", f"{API}/{created['webhook']['id']}", admin(company), json={"event_types": ["bogus.v1"]})
    assert r.status_code == 400 and r.json()["error"] == "unknown_event_type"


async def test_another_companys_webhook_answers_404(call):
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    created = await register(call, owner, f"http://{RECEIVER_HOST}:8080/hook")
    webhook_id = created["webhook"]["id"]
    calls = [
        ("GET", f"{API}/{webhook_id}"), ("PATCH", f"{API}/{webhook_id}"), ("DELETE", f"{API}/{webhook_id}"),
        ("POST", f"{API}/{webhook_id}/rotate-secret"), ("GET", f"{API}/{webhook_id}/deliveries"),
        ("POST", f"{API}/{webhook_id}/test"), ("POST", f"{API}/{webhook_id}/deliveries/{uuid.uuid4()}/retry"),
    ]
    for method, path in calls:
        r = await call(method, path, admin(stranger), json={} if method == "PATCH" else None)
        assert r.status_code == 404 and r.json()["error"] == "webhook_not_found", (method, path, r.text)
    assert (await call("GET", API, admin(stranger))).json()["webhooks"] == []
    r = await call("POST", f"{API}/{webhook_id}/deliveries/{uuid.uuid4()}/retry", admin(owner))
    assert r.status_code == 404 and r.json()["error"] == "delivery_not_found"


async def test_roles_scopes_super_admin_and_the_per_company_limit(call):
    company = uuid.uuid4()
    url = f"http://{RECEIVER_HOST}:8080/hook"
    user = await call("GET", API, admin(company, Role.USER))
    assert user.status_code == 403
    read_key = Principal(kind="api_key", company_id=company, role=Role.ADMIN, scopes=["read"],
                         api_key_id=uuid.uuid4())
    assert (await call("GET", API, read_key)).status_code == 200
    assert (await call("POST", API, read_key, json={"url": url, "event_types": ["*"]})).status_code == 403

    root = Principal(kind="user", role=Role.SUPER_ADMIN, user_id=uuid.uuid4())
    r = await call("POST", API, root, json={"url": url, "event_types": ["*"]})
    assert r.status_code == 400 and r.json()["error"] == "company_id_required"
    r = await call("POST", API, root, params={"company_id": str(company)}, json={"url": url, "event_types": ["*"]})
    assert r.status_code == 201 and r.json()["webhook"]["company_id"] == str(company)
    assert (await call("GET", f"{API}/{r.json()['webhook']['id']}", root)).status_code == 200

    for _ in range(2):  # up to ANALYTICS_WEBHOOKS_PER_COMPANY (3)
        await register(call, company, url)
    r = await call("POST", API, admin(company), json={"url": url, "event_types": ["*"]})
    assert r.status_code == 409 and r.json()["error"] == "webhook_limit_reached"


async def test_event_types_catalogue_is_readable_by_members(call):
    r = await call("GET", f"{API}/event-types", admin(uuid.uuid4(), Role.USER))
    assert r.status_code == 200
    body = r.json()
    types = {e["type"]: e for e in body["event_types"]}
    lead = types["conversations.lead.registered.v1"]
    assert lead["subject"] == "events.conversations.lead.registered.v1" and lead["source"] == "conversations"
    assert lead["description"] and "lead_id" in lead["payload_schema"]["properties"]
    assert "gateway.api_requests.recorded.v1" not in types and "gateway.api_requests.recorded.v1" in body["not_subscribable"]
    assert not {"analytics.webhook.deliver.v1", "ingestion.document.process.v1"} & set(types)  # jobs
