"""The console's Knowledge gaps screen, the Conversations screen's API filters and export, and the
Leads date range, in a real browser on the real platform.

An agent on the built-in offline provider learns a one-fact PDF. Through the API the company's
admin asks it a question it cannot answer (twice, worded differently in case and punctuation),
one it can, and rates another answer not helpful. The Knowledge gaps screen (admins, in the
administration's navigation) groups the unanswered question with its count and reason, shows the
badly rated one, not the answered one; its agent and period filters narrow it, a period that
ends before it starts is refused next to the filters; each group links to its transcripts and to
the agent's Knowledge screen. The Conversations screen filters by rating, lead and date through
the API and exports the filtered conversations as CSV. A plain user gets the 403 page. axe-core
checks every state; screenshots go to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
import uuid
from pathlib import Path

import httpx
import pytest

from knowrithm_ingestion.testing import samples

from .accounts import Account
from .console import new_member
from .console import sign_in_page as _sign_in
from .knowledge import trained_agent, upload, wait_documents
from .test_console_browser import CHROMIUM, Screens
from .test_leads import register

pytestmark = pytest.mark.e2e

FILLER = "This handbook describes the daily routines of the warehouse team in general terms."
UNKNOWN = "What is the refund policy for damaged parcels?"
UNKNOWN_AGAIN = "what is the REFUND policy for damaged parcels"


async def ask(gateway: httpx.AsyncClient, account: Account, agent_id: str, question: str) -> dict:
    """A new conversation with one question, answered (waiting until conversations knows the agent)."""
    deadline = time.monotonic() + 30
    while (r := await gateway.post("/api/v1/conversation", json={"agent_id": agent_id},
                                   headers=account.auth)).status_code == 404:
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.2)
    assert r.status_code == 201, r.text
    conversation_id = r.json()["conversation"]["id"]
    r = await gateway.post(f"/api/v1/conversation/{conversation_id}/chat?wait=true", json={"message": question},
                           headers=account.auth, timeout=60)
    assert r.status_code == 200, r.text
    return {"conversation_id": conversation_id, "answer": r.json()["message"]}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_knowledge_gaps_conversation_filters_and_export_in_the_console(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    account, agent_id = await trained_agent(gateway)
    tag = uuid.uuid4().hex[:6]
    fact = f"The night shift loads refrigerated trucks at dock {tag} after midnight."
    r = await upload(gateway, account, agent_id, [("handbook.pdf", samples.make_pdf([FILLER, fact]),
                                                   "application/pdf")])
    await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])
    r = await gateway.post("/api/v1/agent", json={"name": "Quiet agent"}, headers=account.auth)
    assert r.status_code == 201, r.text
    quiet_agent = r.json()["id"]
    member = await new_member(gateway, account)
    console = platform.gateway_url + "/console"
    today = dt.datetime.now(dt.UTC).date()

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB",
                                                 accept_downloads=True)
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)

            # nothing asked yet: the screen, from the administration's navigation, says there are none
            await page.get_by_role("navigation", name="Administration").get_by_role(
                "link", name="Knowledge gaps").click()
            await expect(page.get_by_role("heading", name="Knowledge gaps", level=1)).to_be_visible()
            await expect(page.get_by_text("No knowledge gaps: every question found an answer")).to_be_visible()
            await expect(page.get_by_role("status")).to_have_text("0 questions without a good answer.")
            await screens.check("gaps-empty")

            # the questions, through the API: one unanswerable twice, one answered, one rated down
            first = await ask(gateway, account, agent_id, UNKNOWN)
            second = await ask(gateway, account, agent_id, UNKNOWN_AGAIN)
            assert second["answer"]["metadata"]["answer_found"] is False
            answered = await ask(gateway, account, agent_id, f"When are refrigerated trucks loaded at dock {tag}?")
            assert answered["answer"]["metadata"]["answer_found"] is True, answered
            rated = await ask(gateway, account, agent_id, f"Who loads trucks at dock {tag}?")
            r = await gateway.post(f"/api/v1/message/{rated['answer']['id']}/feedback", json={"thumbs": "down"},
                                   headers=account.auth)
            assert r.status_code == 201, r.text
            visitor = await register(gateway, agent_id, "Ada")

            # filled: the grouped question with its count and reason, the rated one, not the answered one
            await page.reload()
            rows = page.locator("table.gaps tbody tr")
            await expect(rows).to_have_count(2)
            await expect(page.get_by_role("status")).to_have_text("2 questions without a good answer.")
            top = rows.nth(0)
            await expect(top.get_by_role("rowheader")).to_have_text(UNKNOWN_AGAIN)  # the latest wording
            await expect(top.locator("td").nth(0)).to_have_text("2")
            await expect(top.locator(".badge")).to_have_text("No answer found (2 times)")
            await expect(rows.nth(1).get_by_role("rowheader")).to_have_text(f"Who loads trucks at dock {tag}?")
            await expect(rows.nth(1).locator(".badge")).to_have_text("Rated not helpful (1 time)")
            await expect(page.locator("table.gaps")).not_to_contain_text("When are refrigerated trucks")
            add = top.get_by_role("link", name="Add knowledge to Docs", exact=False)
            await expect(add).to_have_attribute("href", f"/console/knowledge?agent_id={agent_id}")
            await screens.check("gaps-filled")
            await page.set_viewport_size({"width": 320, "height": 640})  # reflow: nothing scrolls sideways
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("gaps-320px")
            await page.set_viewport_size({"width": 1100, "height": 800})

            # a group's conversation: the transcript, its answer marked as not found
            await top.get_by_role("link", name=f"Conversation 2 about “{UNKNOWN_AGAIN}”").click()
            await expect(page).to_have_url(f"{console}/conversations/{first['conversation_id']}")
            await expect(page.locator("article.turn-assistant .badge")).to_have_text("No answer in the documents")
            await page.go_back()

            # filters: another agent has none; a period holding today has both; one ending before it starts
            await page.get_by_label("Agent").select_option(quiet_agent)
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("No knowledge gap matches these filters.")).to_be_visible()
            await screens.check("gaps-filter-no-result")
            await page.get_by_label("Agent").select_option(agent_id)
            await page.get_by_label("Asked from").fill(today.isoformat())
            await page.get_by_label("Asked until").fill(today.isoformat())
            await page.get_by_role("button", name="Filter").click()
            await expect(rows).to_have_count(2)
            await page.get_by_label("Asked from").fill((today + dt.timedelta(days=2)).isoformat())
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_role("alert")).to_have_text("The period must start before it ends.")
            await expect(page.get_by_label("Asked from")).to_have_attribute("aria-invalid", "true")
            await screens.check("gaps-error")

            # conversations: the API's filters by rating, lead and date, with the count announced
            conversations = page.locator("table.list tbody tr")
            await page.goto(console + "/conversations?rating=negative")
            await expect(conversations).to_have_count(1)
            await expect(page.get_by_role("status")).to_have_text("1 conversation matches.")
            await page.goto(console + "/conversations")
            await page.get_by_label("With a lead").select_option("with")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(conversations).to_have_count(1)
            await expect(conversations.first.locator(".badge")).to_have_text("Lead")
            await page.get_by_label("With a lead").select_option("")
            await page.get_by_label("Rating").select_option("unrated")
            await page.get_by_label("Active from").fill(today.isoformat())
            await page.get_by_label("Active until").fill(today.isoformat())
            await page.get_by_role("button", name="Apply filters").click()
            await expect(page.get_by_role("status")).to_have_text("4 conversations match.")
            await screens.check("conversations-filtered-by-the-api")
            await page.get_by_label("Active from").fill((today + dt.timedelta(days=1)).isoformat())
            await page.get_by_label("Active until").fill((today + dt.timedelta(days=1)).isoformat())
            await page.get_by_role("button", name="Apply filters").click()
            await expect(page.get_by_text("No conversation matches.")).to_be_visible()
            await screens.check("conversations-filtered-no-result")

            # the export of the filtered conversations: a CSV with one row per message
            await page.goto(console + "/conversations?rating=unrated&lead=without")
            await expect(page.get_by_role("status")).to_have_text("3 conversations match.")
            async with page.expect_download() as info:
                await page.get_by_role("link", name="Export these conversations (CSV, one row per message)").click()
            download = await info.value
            assert download.suggested_filename.endswith(".csv")
            text = await asyncio.to_thread(Path(await download.path()).read_text)
            exported = list(csv.DictReader(io.StringIO(text)))
            assert {row["conversation_id"] for row in exported} == {
                first["conversation_id"], second["conversation_id"], answered["conversation_id"]}
            assert len(exported) == 6
            questions = {row["content"]: row for row in exported if row["role"] == "user"}
            assert set(questions) >= {UNKNOWN, UNKNOWN_AGAIN}
            found = {row["conversation_id"]: row["answer_found"] for row in exported if row["role"] == "assistant"}
            assert found[first["conversation_id"]] == "false" and found[answered["conversation_id"]] == "true"
            assert any(row["citations"] == "handbook.pdf" for row in exported)

            # leads: the date range on their creation
            lead_rows = page.locator("table.list tbody tr")
            await page.goto(console + "/leads")
            await page.get_by_label("Created from").fill(today.isoformat())
            await page.get_by_label("Created until").fill(today.isoformat())
            await page.get_by_role("button", name="Filter").click()
            await expect(lead_rows).to_have_count(1)
            await expect(lead_rows.first).to_contain_text(visitor["lead"]["email"])
            await page.get_by_label("Created from").fill((today + dt.timedelta(days=1)).isoformat())
            await page.get_by_label("Created until").fill("")
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("No lead matches these filters.")).to_be_visible()
            await screens.check("leads-date-range-empty")
            await context.close()

            # a plain user: no Knowledge gaps in the navigation, the 403 page at the typed address
            context = await chromium.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("pageerror", lambda exc: screens.problems.append(f"page error: {exc}"))
            page.on("console", screens._console)
            await _sign_in(page, console, member)
            await expect(page.get_by_role("link", name="Knowledge gaps")).to_have_count(0)
            response = await page.goto(console + "/knowledge-gaps")
            assert response is not None and response.status == 403
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("gaps-plain-user-403")
            await context.close()
        finally:
            await chromium.close()
