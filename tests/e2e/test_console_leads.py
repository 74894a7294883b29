"""The console's Leads screen, its access rules and the Profile page, in a real browser.

A widget visitor registers through the public lead API and chats with its lead token, as the
widget does; the company's admin then finds the lead in the console with its transcript,
changes its status inline, filters, exports and erases it (with the typed confirmation). A
plain user of the same company has no Leads in the navigation, gets a 403 page at a typed
URL, and edits their own profile. Another company's lead is a 404 page. Headless Chromium
(Debian's /usr/bin/chromium through Playwright) under the console's real CSP; axe-core on
every state; screenshots to tests/e2e/artifacts/console/. The agent answers with the offline
provider (no model is called).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from .accounts import PASSWORD, sign_up
from .conftest import projections_caught_up
from .console import browser, new_member, sign_in
from .console import sign_in_page as _sign_in
from .knowledge import trained_agent
from .test_console_browser import CHROMIUM, Screens
from .test_leads import bearer, register

pytestmark = pytest.mark.e2e


async def _widget_lead(gateway, agent_id: str, first_name: str, question: str | None = None) -> dict:
    """A visitor registered and (optionally) chatting, through the widget's public API."""
    lead = await register(gateway, agent_id, first_name)
    if question:
        r = await gateway.post(f"/api/v1/conversation/{lead['conversation']['id']}/chat?wait=true",
                               json={"message": question}, headers=bearer(lead["lead_token"]), timeout=60)
        assert r.status_code == 200, r.text
    return lead


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_leads_from_the_widget_in_the_console_status_filters_export_erase_and_access(
    platform, gateway, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account, agent_id = await trained_agent(gateway)
    ada = await _widget_lead(gateway, agent_id, "Ada", question="Do you ship to Lisbon on Sundays?")
    bob = await _widget_lead(gateway, agent_id, "Bob")
    r = await gateway.put(f"/api/v1/lead/{bob['lead']['id']}", json={"status": "contacted"}, headers=account.auth)
    assert r.status_code == 200, r.text
    _other, other_agent = await trained_agent(gateway)
    foreign = await _widget_lead(gateway, other_agent, "Eve")
    member = await new_member(gateway, account)
    await projections_caught_up(platform)
    ada_id = ada["lead"]["id"]
    console = platform.gateway_url + "/console"

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB",
                                                 accept_downloads=True)
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)

            # the list: both widget leads, newest first, with their status on a text badge
            await page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
            await expect(page.get_by_role("heading", name="Leads", level=1)).to_be_visible()
            rows = page.locator("table.list tbody tr")
            await expect(rows).to_have_count(2)
            await expect(rows.nth(0)).to_contain_text("Bob Visitor")
            await expect(rows.nth(0).locator(".badge")).to_have_text("Contacted")
            await expect(rows.nth(1)).to_contain_text(ada["lead"]["email"])
            await screens.check("leads-filled")
            await page.set_viewport_size({"width": 320, "height": 640})  # reflow: nothing scrolls sideways
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("leads-320px")
            await page.set_viewport_size({"width": 1100, "height": 760})

            # filters: by status, by agent, by name; and nothing matching
            await page.get_by_label("Status", exact=True).select_option("contacted")
            await page.get_by_role("button", name="Filter").click()
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Bob Visitor")
            await page.goto(f"{console}/leads?agent_id={agent_id}&search=Ada")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Ada Visitor")
            await expect(page.get_by_label("Agent")).to_have_value(agent_id)
            await page.get_by_label("Name or exact e-mail").fill("Nobody-like-this")
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("No lead matches these filters.")).to_be_visible()
            await screens.check("leads-empty")

            # status change inline (htmx): the row's field comes in with the focus; saved, the row is
            # swapped, says so in role=status, and the focus is back on the row's Change link
            await page.get_by_role("link", name="Clear filters").click()
            row = rows.filter(has_text="Ada Visitor")
            await row.get_by_role("link", name="Change status: Ada Visitor").click()
            await expect(page.get_by_label("New status for Ada Visitor")).to_be_focused()
            await screens.check("leads-status-editing")
            await page.get_by_label("New status for Ada Visitor").select_option("qualified")
            await row.get_by_role("button", name="Save").click()
            await expect(row.get_by_role("status")).to_have_text("Status saved: Qualified.")
            await expect(row.locator(".badge")).to_have_text("Qualified")
            await expect(row.get_by_role("link", name="Change status: Ada Visitor")).to_be_focused()
            await screens.check("leads-status-changed")
            r = await gateway.get(f"/api/v1/lead/{ada_id}", headers=account.auth)
            assert r.json()["lead"]["status"] == "qualified"

            # the detail: the lead's conversation from the widget with its transcript
            await page.get_by_role("link", name="Ada Visitor", exact=True).click()
            await expect(page.get_by_role("heading", name="Ada Visitor", level=1)).to_be_visible()
            transcript = page.locator("article.transcript")
            await expect(transcript).to_have_count(1)
            await expect(transcript.locator(".message-user")).to_contain_text("Do you ship to Lisbon on Sundays?")
            await expect(transcript.locator(".message-assistant")).to_have_count(1)
            await screens.check("lead-detail")
            await page.get_by_label("New status for Ada Visitor").select_option("converted")
            await page.locator("#lead-status").get_by_role("button", name="Save").click()
            await expect(page.locator("#lead-status [role=status]")).to_have_text("Status saved: Converted.")
            await expect(page.get_by_label("New status for Ada Visitor")).to_be_focused()
            await screens.check("lead-detail-status-changed")

            # export: a JSON download through the console with everything held
            async with page.expect_download() as info:
                await page.get_by_role("link", name="Export everything held (JSON)").click()
            download = await info.value
            held = json.loads(await asyncio.to_thread(Path(await download.path()).read_text))
            assert held["lead"]["id"] == ada_id and held["lead"]["email"] == ada["lead"]["email"]
            assert held["conversations"][0]["messages"][0]["content"] == "Do you ship to Lisbon on Sundays?"

            # erase: a confirmation dialog takes the focus; a wrong word is refused, nothing erased
            await page.get_by_role("link", name="Erase this lead…").click()
            dialog = page.get_by_role("alertdialog", name="Erase Ada Visitor?")
            await expect(dialog).to_be_visible()
            await expect(page.get_by_label("Type “erase” to confirm")).to_be_focused()
            await screens.check("lead-erase-dialog")
            await page.get_by_label("Type “erase” to confirm").fill("delete")
            await page.get_by_role("button", name="Erase for good").click()
            await expect(page.locator("#confirm-error")).to_have_text("Type “erase” to confirm.")
            await expect(page.get_by_label("Type “erase” to confirm")).to_be_focused()
            await screens.check("lead-erase-error")
            assert (await gateway.get(f"/api/v1/lead/{ada_id}/export", headers=account.auth)).json()["conversations"]
            await page.get_by_label("Type “erase” to confirm").fill("erase")
            await page.get_by_role("button", name="Erase for good").click()
            await expect(page).to_have_url(console + "/leads")
            await expect(page.get_by_role("status")).to_have_text(
                "The lead's data is erased (conversations: 1, messages: 2).")
            await expect(rows).to_have_count(1)
            await expect(page.locator("table.list")).not_to_contain_text("Ada")
            await screens.check("leads-after-erase")
            r = await gateway.get(f"/api/v1/lead/{ada_id}/export", headers=account.auth)
            assert r.status_code == 404, r.text  # nothing is held about the lead any more
            response = await page.goto(f"{console}/leads/{ada_id}")
            assert response is not None and response.status == 404

            # another company's lead: the 404 page
            response = await page.goto(f"{console}/leads/{foreign['lead']['id']}")
            assert response is not None and response.status == 404
            await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
            await screens.check("lead-other-company-404")
            await context.close()

            # a plain user: no Leads in the navigation, a 403 page at the typed URL, own profile
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("pageerror", lambda exc: screens.problems.append(f"page error: {exc}"))
            page.on("console", screens._console)
            await _sign_in(page, console, member)
            nav = page.get_by_role("navigation", name="Main")
            await expect(nav.get_by_role("link", name="Home")).to_be_visible()
            await expect(nav.get_by_role("link", name="Leads")).to_have_count(0)
            for path in ("/leads", f"/leads/{bob['lead']['id']}", f"/leads/{bob['lead']['id']}/export"):
                response = await page.goto(console + path)
                assert response is not None and response.status == 403, path
                await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("leads-plain-user-403")

            await page.get_by_role("link", name=re.compile("your profile")).click()
            await expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
            await expect(page.get_by_label("E-mail")).to_have_value(member)
            await screens.check("profile")
            await page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
            await page.get_by_label("First name").fill("Augusta")
            await page.get_by_role("button", name="Save").click()
            await expect(page.locator("#timezone-error")).to_contain_text("unknown timezone")
            await expect(page.get_by_label("Time zone")).to_be_focused()
            await screens.check("profile-error")
            r = await gateway.post("/api/v1/auth/login", json={"email": member, "password": PASSWORD})
            me = (await gateway.get("/api/v1/user/profile", headers=bearer(r.json()["access_token"]))).json()
            assert me["user"]["first_name"] == "Ada"  # nothing half-saved
            await page.get_by_label("Time zone").fill("Europe/Berlin")
            await page.get_by_label("Language of the console").select_option("de")
            await page.get_by_role("button", name="Save").click()
            await expect(page.get_by_role("status")).to_have_text("Ihr Profil ist gespeichert.")
            await expect(page.get_by_role("link", name=re.compile("Augusta Lovelace"))).to_be_visible()
            await screens.check("profile-saved-de")
            print(f"screenshots: {', '.join(screens.checked)}")
        finally:
            await chromium.close()


async def test_plain_users_get_403_pages_and_another_companys_lead_a_404_page_without_a_browser(platform, gateway):
    account, agent_id = await trained_agent(gateway)
    lead = await _widget_lead(gateway, agent_id, "Kim")
    other = await sign_up(gateway)
    member = await new_member(gateway, account)
    async with browser(platform) as client:
        await sign_in(client, member)
        for path in ("/console/leads", f"/console/leads/{lead['lead']['id']}"):
            r = await client.get(path)
            assert r.status_code == 403 and "Not allowed" in r.text, path
        r = await client.get("/console/")
        assert 'href="/console/leads"' not in r.text
    async with browser(platform) as client:
        await sign_in(client, other.email)
        r = await client.get(f"/console/leads/{lead['lead']['id']}")
        assert r.status_code == 404 and "Not found" in r.text
        r = await client.get("/console/leads")
        assert r.status_code == 200 and "No leads yet." in r.text and 'href="/console/leads"' in r.text
