"""Webhooks and the live event inspector: the API's event stream, and the console in a browser.

The stream (`GET /api/v1/events/stream`, through the gateway): a company's admin gets its own
events as they happen, filtered by type, never another company's; a plain user gets 403; an
unknown type is a 400. In the console (Debian's Chromium through Playwright, under the real
CSP, axe on every state, screenshots to tests/e2e/artifacts/console/): an admin subscribes a
webhook to a receiver on 127.0.0.5 (the e2e allowlist), sends a test by keyboard only, finds
the delivery in the log with its HTTP 200, the exact signed body and the signature header, and
the signature check says valid for it and invalid for a tampered payload; a failed delivery is
retried; the secret is rotated and the webhook deleted through their confirmations; the
inspector shows a lead created through the API within a second of the API's answer and links
to that event's webhook delivery. A plain user has neither screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from .accounts import PASSWORD, Account, offline_settings, sign_up
from .console import new_member
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e
LEAD_REGISTERED = "conversations.lead.registered.v1"


class Receiver:
    """A webhook receiver on 127.0.0.5 answering `status` and recording what it is sent."""

    def __init__(self) -> None:
        self.status = 200
        self.deliveries: list[tuple[dict[str, str], bytes]] = []

    @contextmanager
    def serve(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = b'{"received": true}'
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Receiver", "e2e")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.5", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.5:{server.server_address[1]}/hooks"
        finally:
            server.shutdown()
            server.server_close()


class Stream:
    """An open `GET /api/v1/events/stream`: its SSE messages as (event, data), read in the background."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.ready = asyncio.Event()
        self.status = 0

    def events(self) -> list[dict[str, Any]]:
        return [data for kind, data in self.messages if kind == "domain_event"]

    async def read(self, response: httpx.Response) -> None:
        kind, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                self.messages.append((kind, json.loads(data)))
                if kind == "ready":
                    self.ready.set()
                kind, data = "message", ""


@contextlib.asynccontextmanager
async def stream(platform, token: str, types: str = "") -> AsyncIterator[Stream]:
    """The event stream as `token`'s holder, listening (its `ready` message came) once entered."""
    opened = Stream()
    params = {"types": types} if types else None
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=httpx.Timeout(10, read=60)) as client:
        async with client.stream("GET", "/api/v1/events/stream", params=params,
                                 headers={"Authorization": f"Bearer {token}"}) as response:
            opened.status = response.status_code
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(opened.read(response))
            try:
                await asyncio.wait_for(opened.ready.wait(), 10)
                yield opened
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await reader


async def new_lead(gateway: httpx.AsyncClient, account: Account, name: str) -> str:
    body = {"first_name": name, "last_name": "Stream", "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"}
    r = await gateway.post("/api/v1/lead", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    return str(r.json()["lead"]["id"])


async def until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def lead_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["data"].get("lead_id") for e in events if e["type"].startswith("conversations.lead.")}


async def member_token(gateway: httpx.AsyncClient, admin: Account) -> str:
    email = await new_member(gateway, admin)
    r = await gateway.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_the_event_stream_carries_only_the_company_s_own_events_of_the_chosen_types(platform, gateway):
    a, b = await sign_up(gateway), await sign_up(gateway)
    async with (
        stream(platform, a.access_token) as everything,
        stream(platform, a.access_token, types=LEAD_REGISTERED) as leads_only,
        stream(platform, b.access_token, types="conversations.lead.*") as other_company,
    ):
        b_lead = await new_lead(gateway, b, "Bea")
        await offline_settings(gateway, a, is_default=True)
        r = await gateway.post("/api/v1/agent", json={"name": f"Stream {uuid.uuid4().hex[:6]}"}, headers=a.auth)
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        a_lead = await new_lead(gateway, a, "Ann")

        await until(lambda: a_lead in lead_ids(everything.events()) and a_lead in lead_ids(leads_only.events()))
        await until(lambda: b_lead in lead_ids(other_company.events()))
        await until(lambda: any(e["data"].get("agent_id") == agent_id for e in everything.events()))
        await asyncio.sleep(0.5)  # anything stray would have arrived by now

    # the streams ended with their clients: analytics holds none open any more
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{platform.ports['analytics']}") as analytics:
        deadline = time.monotonic() + 10
        while "knowrithm_event_streams_open 0.0" not in (await analytics.get("/metrics")).text:
            assert time.monotonic() < deadline, "the closed streams are still open in analytics"
            await asyncio.sleep(0.1)

    # the company's own events, as webhooks see them: no trace ids, no actor address
    for event in everything.events() + leads_only.events():
        assert event["company_id"] == a.company["id"]
        assert "traceparent" not in event and "ip" not in event["actor"]
    assert b_lead not in lead_ids(everything.events()) | lead_ids(leads_only.events())
    assert {e["type"] for e in leads_only.events()} == {LEAD_REGISTERED}
    assert any(e["type"].startswith("agents.") for e in everything.events())
    # and company B's stream heard nothing of A
    assert all(e["company_id"] == b.company["id"] for e in other_company.events())
    assert a_lead not in lead_ids(other_company.events())


async def test_the_event_stream_refuses_plain_users_unknown_types_and_no_credentials(platform, gateway):
    admin = await sign_up(gateway)
    token = await member_token(gateway, admin)
    r = await gateway.get("/api/v1/events/stream", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403, r.text
    assert r.json()["success"] is False
    r = await gateway.get("/api/v1/events/stream", params={"types": "no.such.event.v1"}, headers=admin.auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "unknown_event_type"
    r = await gateway.get("/api/v1/events/stream")
    assert r.status_code == 401, r.text


async def test_a_delivery_s_detail_is_the_company_s_own(platform, gateway):
    owner, intruder = await sign_up(gateway), await sign_up(gateway)
    receiver = Receiver()
    with receiver.serve() as url:
        r = await gateway.post("/api/v1/webhook", json={"url": url, "event_types": [LEAD_REGISTERED]},
                               headers=owner.auth)
        assert r.status_code == 201, r.text
        webhook_id = r.json()["webhook"]["id"]
        r = await gateway.post(f"/api/v1/webhook/{webhook_id}/test", headers=owner.auth)
        assert r.status_code == 202, r.text
        delivery_id = r.json()["delivery_id"]
        detail = f"/api/v1/webhook/{webhook_id}/deliveries/{delivery_id}"

        async def delivered() -> dict[str, Any]:
            deadline = time.monotonic() + 20
            while True:
                r = await gateway.get(detail, headers=owner.auth)
                assert r.status_code == 200, r.text
                if r.json()["delivery"]["status"] == "succeeded":
                    return dict(r.json())
                assert time.monotonic() < deadline, r.text
                await asyncio.sleep(0.1)

        found = await delivered()
    headers, body = receiver.deliveries[0]
    assert found["request"]["body"].encode() == body
    assert found["request"]["headers"]["X-Knowrithm-Signature"] == headers["x-knowrithm-signature"]
    assert found["response"]["status_code"] == 200 and found["response"]["body"] == '{"received": true}'
    assert found["response"]["headers"]["x-receiver"] == "e2e"
    r = await gateway.get(detail, headers=intruder.auth)
    assert r.status_code == 404, r.text
    r = await gateway.get(f"/api/v1/webhook/{webhook_id}/deliveries/{uuid.uuid4()}", headers=owner.auth)
    assert r.status_code == 404 and r.json()["error"] == "delivery_not_found", r.text


# --- the console in a browser --------------------------------------------------------------------


async def _tab_to(page, locator, presses: int = 60) -> None:
    """Press Tab until `locator` has the focus (keyboard only)."""
    for _ in range(presses):
        if await locator.evaluate("node => node === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


# Records, in the page, when each event reaches the inspector's log (Date.now(): the test's clock).
ARRIVALS = """() => {
  window.__arrivals = [];
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(node => {
    if (node.dataset && node.dataset.eventId) {
      window.__arrivals.push({at: Date.now(), type: node.dataset.eventType, text: node.textContent});
    }
  }))).observe(document.getElementById("events-log"), {childList: true});
}"""


@pytest.mark.timeout(600)  # one long walk through both screens (the platform may start in it)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_webhooks_and_live_events_in_the_console(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    member = await new_member(gateway, account)
    console = platform.gateway_url + "/console"
    receiver = Receiver()

    with receiver.serve() as url:
        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
                await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=platform.gateway_url)
                page = await context.new_page()
                screens = Screens(page, tmp_path)
                await _sign_in(page, console, account.email)

                # empty: no webhook yet
                await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Webhooks").click()
                await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
                await expect(page.get_by_text("No webhooks yet.")).to_be_visible()
                await screens.check("webhooks-empty")

                # subscribe: no event chosen is refused next to the events, the form kept
                await page.get_by_role("link", name="New webhook").click()
                await page.get_by_label("Receiver address (URL)").fill(url)
                await page.get_by_label("Description").fill("CRM sync")
                await page.get_by_role("button", name="Subscribe").click()
                await expect(page.locator("#event_types-error")).to_have_text("Choose at least one event type.")
                await expect(page.get_by_label("Receiver address (URL)")).to_have_value(url)
                await screens.check("webhook-form-error")
                # an address outside the allowlist: the API's refusal under the URL field
                await page.get_by_label("Receiver address (URL)").fill("http://10.1.2.3/hooks")
                await page.get_by_label(LEAD_REGISTERED).check()
                await page.get_by_role("button", name="Subscribe").click()
                await expect(page.locator("#url-error")).to_be_visible()
                await expect(page.get_by_label("Receiver address (URL)")).to_be_focused()
                await page.get_by_label("Receiver address (URL)").fill(url)
                await page.get_by_role("button", name="Subscribe").click()

                # the secret, once, with a Copy button
                await expect(page.get_by_role("heading", name="Webhook subscribed")).to_be_visible()
                secret = await page.get_by_role("textbox", name="Signing secret").input_value()
                assert secret.startswith("whsec_")
                await page.get_by_role("button", name="Copy the secret").click()
                await expect(page.locator("#copy-status")).to_have_text("Copied.")
                assert await page.evaluate("navigator.clipboard.readText()") == secret
                await screens.check("webhook-secret")
                await page.get_by_role("link", name="Go to the webhook").click()
                await expect(page.get_by_role("heading", name=f"Webhook to {url}")).to_be_visible()
                await expect(page.get_by_text("Nothing delivered yet.")).to_be_visible()
                await screens.check("webhook-detail-empty")

                # keyboard only: send a test, refresh the log until delivered, open the delivery
                await _tab_to(page, page.get_by_role("button", name="Send a test"))
                await page.keyboard.press("Enter")
                await expect(page.get_by_role("status")).to_have_text(
                    "Test delivery queued. Refresh the log to see its outcome.")
                rows = page.locator("#deliveries tbody tr")
                deadline = time.monotonic() + 20
                while "Delivered" not in (await rows.first.text_content() or ""):
                    assert time.monotonic() < deadline, await rows.first.text_content()
                    await _tab_to(page, page.get_by_role("button", name="Refresh the log"))
                    await page.keyboard.press("Enter")
                    await page.wait_for_load_state()
                await expect(rows.first).to_contain_text("webhook.test")
                await expect(rows.first).to_contain_text("HTTP 200")
                await screens.check("webhook-detail-filled")
                await _tab_to(page, rows.first.get_by_role("link"))
                await page.keyboard.press("Enter")
                await expect(page.get_by_role("heading", name="Delivery of webhook.test")).to_be_visible()
                headers, body = receiver.deliveries[-1]
                await expect(page.locator("#request-body")).to_have_text(body.decode())
                await expect(page.locator("#request-headers")).to_contain_text(
                    "X-Knowrithm-Signature: " + headers["x-knowrithm-signature"])
                await expect(page.locator("#answer-status")).to_have_text("200")
                await screens.check("delivery-detail")

                # the signature check, by keyboard: valid with the secret, invalid once tampered
                await expect(page.get_by_label("Payload (the request body, exactly)")).to_have_value(body.decode())
                await _tab_to(page, page.get_by_label("Signing secret"))
                await page.keyboard.type(secret)
                await page.keyboard.press("Enter")
                await expect(page.locator("#verdict")).to_contain_text("Valid")
                await expect(page.locator("#verdict")).to_be_focused()
                assert secret not in await page.content()  # the secret is not sent back
                await screens.check("signature-valid")
                tampered = body.decode().replace("A test delivery", "A tampered delivery")
                await page.get_by_label("Payload (the request body, exactly)").fill(tampered)
                await page.get_by_label("Signing secret").fill(secret)
                await page.get_by_role("button", name="Check the signature").click()
                await expect(page.locator("#verdict")).to_contain_text("Invalid")
                await screens.check("signature-invalid")

                # a receiver failing: the delivery ends failed (3 attempts), Retry sends it again
                receiver.status = 500
                await page.goto(f"{console}/webhooks")
                await page.get_by_role("link", name=url).click()
                await page.get_by_role("button", name="Send a test").click()
                deadline = time.monotonic() + 30
                while "Failed" not in (await rows.first.text_content() or ""):
                    assert time.monotonic() < deadline, await rows.first.text_content()
                    await asyncio.sleep(0.5)
                    await page.get_by_role("button", name="Refresh the log").click()
                await expect(rows.first).to_contain_text("HTTP 500")
                await expect(rows.first.get_by_role("cell").nth(2)).to_have_text("3")
                await screens.check("webhook-detail-failed")
                receiver.status = 200
                await rows.first.get_by_role("button", name="Retry").click()
                await expect(page.get_by_role("status")).to_have_text("Delivery queued again.")
                deadline = time.monotonic() + 20
                while "Delivered" not in (await rows.first.text_content() or ""):
                    assert time.monotonic() < deadline, await rows.first.text_content()
                    await asyncio.sleep(0.3)
                    await page.get_by_role("button", name="Refresh the log").click()

                # the inspector: a lead created through the API appears within a second
                webhook_page = page.url.split("#")[0]
                await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Live events").click()
                await expect(page.get_by_role("heading", name="Live events", level=1)).to_be_visible()
                await expect(page.locator("#events-status")).to_have_text("Listening for events.")
                await screens.check("events-empty")
                await page.evaluate(ARRIVALS)
                lead_id = await new_lead(gateway, account, "Lena")
                answered = time.time()
                item = page.locator(f"#events-log [data-event-type='{LEAD_REGISTERED}']").filter(has_text=lead_id)
                await expect(item).to_have_count(1, timeout=5000)
                arrivals = await page.evaluate("window.__arrivals")
                arrived = next(a["at"] for a in arrivals if lead_id in a["text"]) / 1000
                assert arrived - answered <= 1.0, f"shown {arrived - answered:.3f} s after the API's answer"
                await item.locator("summary").click()
                await expect(item.locator("pre")).to_contain_text(f'"lead_id": "{lead_id}"')
                await screens.check("events-filled")

                # a webhook's test delivery appears in the inspector too, linked to its detail
                webhook_id = webhook_page.rstrip("/").split("/")[-1]
                r = await gateway.post(f"/api/v1/webhook/{webhook_id}/test", headers=account.auth)
                assert r.status_code == 202, r.text
                delivery_id = r.json()["delivery_id"]
                ping = page.locator("#events-log article.delivery[data-event-type='webhook.test']")
                await expect(ping).to_have_count(1, timeout=10000)
                await expect(ping).to_contain_text("Delivered")
                await expect(ping).to_contain_text("HTTP status: 200")
                href = await ping.get_by_role("link", name="Open the delivery: payload, signature and answer").get_attribute("href")
                assert href == f"/console/webhooks/{webhook_id}/deliveries/{delivery_id}", href
                await screens.check("events-delivery")

                # pause: a new event is not shown; resume: the next one is
                await page.get_by_role("button", name="Pause").click()
                await expect(page.locator("#events-status")).to_have_text("Paused: new events are not shown.")
                await expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
                hidden = await new_lead(gateway, account, "Hidden")
                await page.wait_for_timeout(1500)
                await expect(page.locator("#events-log").filter(has_text=hidden)).to_have_count(0)
                await page.get_by_role("button", name="Resume").click()
                shown = await new_lead(gateway, account, "Shown")
                await expect(page.locator("#events-log article").filter(has_text=shown).first).to_be_visible()

                # filter by type: only lead events listed
                await page.get_by_label("Event types (none chosen: all)").select_option([LEAD_REGISTERED])
                await page.get_by_role("button", name="Filter").click()
                await expect(page.locator("#events-status")).to_have_text("Listening for events.")
                await offline_settings(gateway, account, is_default=True)  # events of other types
                last = await new_lead(gateway, account, "Last")
                await expect(page.locator("#events-log article").filter(has_text=last)).to_have_count(1)
                types = await page.locator("#events-log article").evaluate_all("els => els.map(e => e.dataset.eventType)")
                assert set(types) == {LEAD_REGISTERED}

                # the event's webhook delivery (once the receiver got it), one link away
                await until(lambda: any(last.encode() in body for _headers, body in receiver.deliveries))
                await page.locator("#events-log article").filter(has_text=last).get_by_role(
                    "link", name="Webhook deliveries").click()
                await expect(page.get_by_role("heading", level=1)).to_contain_text("Deliveries of event")
                await page.get_by_role("link", name=f"To {url}").click()
                await expect(page.get_by_role("heading", name=f"Delivery of {LEAD_REGISTERED}")).to_be_visible()
                await expect(page.locator("#request-body")).to_contain_text(last)

                # rotate the secret and delete the webhook, each through its confirmation
                await page.goto(webhook_page)
                await page.get_by_role("link", name="Rotate the secret…").click()
                dialog = page.get_by_role("alertdialog")
                await expect(dialog).to_be_visible()
                await expect(page.get_by_role("heading", level=1)).to_be_focused()
                await screens.check("webhook-rotate-dialog")
                await dialog.get_by_role("button", name="Rotate the secret").click()
                rotated = await page.get_by_role("textbox", name="Signing secret").input_value()
                assert rotated.startswith("whsec_") and rotated != secret
                await page.goto(webhook_page)
                await page.get_by_role("link", name="Delete…").click()
                await screens.check("webhook-delete-dialog")
                await page.get_by_role("alertdialog").get_by_role("button", name="Delete webhook").click()
                await expect(page.get_by_role("status")).to_have_text("Webhook deleted. Nothing more is sent to it.")
                await expect(page.get_by_text("No webhooks yet.")).to_be_visible()

                # a plain user: no Administration entries, a 403 page at typed addresses
                await context.clear_cookies()
                await _sign_in(page, console, member)
                await expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
                await expect(page.get_by_role("link", name="Live events")).to_have_count(0)
                for path in ("/webhooks", "/events", "/webhooks/signature"):
                    response = await page.goto(console + path)
                    assert response is not None and response.status == 403
                await expect(page.get_by_text("This part of the console is for your company's administrators.")).to_be_visible()
                await screens.check("webhooks-403")
            finally:
                await chromium.close()
