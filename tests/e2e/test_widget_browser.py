"""The chat widget in a real browser, through the gateway, with the offline responder.

Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright: no browser download)
opens a test page made by `POST /api/v1/test`; the widget shows its launcher, then the lead
form; the visitor registers, asks about a document the test uploaded, and sees the answer
stream in with its citation (document name and page). A screenshot of the answered chat goes
to the test's tmp dir and to tests/e2e/artifacts/widget.png (a folder git ignores).

Without a browser: the agent test route's task carries the pipeline's answer, and a widget
visitor's stream takes its token as `?access_token=` (what an EventSource would send).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from knowrithm_ingestion.testing import samples

from .knowledge import trained_agent, upload, wait_documents

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
FILLER = "This handbook describes the daily routines of the warehouse team in general terms."


@pytest.fixture(scope="module")
async def trained(platform):
    """An agent trained on a 3-page PDF whose page 2 holds the fact, known to conversations."""
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=15) as gateway:
        account, agent_id = await trained_agent(gateway)
        tag = uuid.uuid4().hex[:6]
        pdf = samples.make_pdf([FILLER, f"The night shift loads refrigerated trucks at dock {tag} after midnight.",
                                FILLER])
        r = await upload(gateway, account, agent_id, [("handbook.pdf", pdf, "application/pdf")])
        await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])
        deadline = time.monotonic() + 20
        while (await gateway.get(f"/api/v1/widget/agent/{agent_id}")).status_code != 200:
            assert time.monotonic() < deadline, "conversations never learnt of the agent"
            await asyncio.sleep(0.2)
        return account, agent_id, tag


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_a_visitor_registers_asks_and_sees_the_streamed_cited_answer(gateway, trained, platform, tmp_path):
    from playwright.async_api import async_playwright, expect

    account, agent_id, tag = trained
    r = await gateway.post("/api/v1/test", json={"agent_id": agent_id, "body": '<p id="host">Our shop</p>'},
                           headers=account.auth)
    assert r.status_code == 201, r.text
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(platform.gateway_url + r.json()["url"])
            await expect(page.locator("#host")).to_have_text("Our shop")  # the caller's own HTML

            launcher = page.locator(".kw-launcher")
            await expect(launcher).to_be_visible(timeout=10_000)
            await launcher.click()
            form = page.locator(".kw-lead")
            await expect(form).to_be_visible()
            await form.locator("input[name=first_name]").fill("Ada")
            await form.locator("input[name=email]").fill(f"ada-{tag}@example.com")
            await form.locator("input[name=consent]").check()
            await form.locator(".kw-start").click()

            send = page.locator(".kw-send")
            await expect(send).to_be_enabled(timeout=15_000)  # the answer stream is open
            await count_text_updates(page)
            await page.locator(".kw-input").fill(f"When are refrigerated trucks loaded at dock {tag}?")
            await send.click()

            answer = page.locator(".kw-assistant").last
            citation = answer.locator(".kw-citation")
            await expect(citation).to_have_text("[1] handbook.pdf, p. 2", timeout=30_000)
            await expect(answer.locator(".kw-text")).to_contain_text("after midnight")
            updates = await page.evaluate("window.__kwTextUpdates")
            assert updates >= 3, f"the answer appeared in {updates} update(s), not token by token"
            assert not problems, problems

            shot = tmp_path / "widget.png"
            await page.screenshot(path=str(shot))
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / ".gitignore").write_text("*\n")  # screenshots are never committed
            shutil.copyfile(shot, ARTIFACTS / "widget.png")
            print(f"widget screenshot: {shot} and {ARTIFACTS / 'widget.png'}")

            await page.reload()  # the visitor comes back: same session, same conversation
            await page.locator(".kw-launcher").click()
            await expect(page.locator(".kw-lead")).to_be_hidden()
            await expect(page.locator(".kw-user")).to_have_text(f"When are refrigerated trucks loaded at dock {tag}?")
            await expect(page.locator(".kw-citation")).to_have_text("[1] handbook.pdf, p. 2")
        finally:
            await browser.close()


async def count_text_updates(page) -> None:
    """Count, from now on, every change of an assistant message's text inside the widget."""
    await page.evaluate("""() => {
        window.__kwTextUpdates = 0;
        const root = document.querySelector('[data-knowrithm-widget]').shadowRoot;
        new MutationObserver(records => {
            for (const r of records) if (r.target.classList && r.target.classList.contains('kw-text')) window.__kwTextUpdates++;
        }).observe(root, {childList: true, subtree: true, characterData: true});
    }""")


async def test_an_agent_test_task_holds_the_pipelines_cited_answer_and_latency(gateway, trained):
    account, agent_id, tag = trained
    r = await gateway.post(f"/api/v1/agent/{agent_id}/test", json={"query": f"What happens at dock {tag}?"},
                           headers=account.auth)
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]
    deadline = time.monotonic() + 30
    while (task := (await gateway.get(status_url, headers=account.auth)).json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, task
        await asyncio.sleep(0.2)
    assert task["status"] == "completed", task
    result = task["result"]
    assert "after midnight" in result["answer"] and result["latency_ms"] > 0
    assert (result["citations"][0]["document_name"], result["citations"][0]["page"]) == ("handbook.pdf", 2)
    conversation = (await gateway.get(f"/api/v1/conversation/{result['conversation_id']}", headers=account.auth)).json()
    assert conversation["conversation"]["metadata"]["test"] is True


async def test_a_visitors_stream_accepts_the_lead_token_in_the_query(gateway, trained, platform):
    _, agent_id, tag = trained
    r = await gateway.post("/api/v1/lead/register", json={
        "agent_id": agent_id, "first_name": "Ada", "email": f"ada-q-{tag}@example.com",
        "consent_data_processing": True, "start_conversation": True})
    assert r.status_code == 201, r.text
    registered = r.json()
    path = f"/api/v1/conversation/{registered['conversation']['id']}/messages/stream"
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=15) as client, client.stream(
        "GET", path, params={"access_token": registered["lead_token"]}
    ) as response:
        assert response.status_code == 200, await response.aread()
        lines = response.aiter_lines()
        assert await anext(lines) == "event: ready"
        assert json.loads((await anext(lines))[6:]) == {"conversation_id": registered["conversation"]["id"]}
    refused = await gateway.get(path, params={"access_token": "not-a-token"})
    assert refused.status_code == 401
