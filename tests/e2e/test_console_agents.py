"""The console's Agents screens in a real browser against the launched platform.

An admin creates an agent on the built-in offline provider, finds it in the list and by search,
edits it with a bad value (the API's error next to the field, nothing saved), clones, deletes and
restores it, restores another from the Deleted agents page (a refused restore shows the API's
409), and saves the widget settings (preview, embed code, test page). A plain user sees
no admin controls and gets the 403 page; another company's agent is the 404 page. axe-core
checks each state (empty list, filled list, form error, confirmation dialogs, widget, narrow
screen); screenshots go to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import re

import pytest

from .accounts import offline_settings, sign_up
from .console import new_member
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e
DASH = "\u2013"  # between a row's action and its agent's name (visually hidden)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_an_admin_manages_agents_and_their_widget_and_a_plain_user_only_reads(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    admin = await sign_up(gateway)
    member = await new_member(gateway, admin)
    other = await sign_up(gateway)
    await offline_settings(gateway, other)
    r = await gateway.post("/api/v1/agent", json={"name": "Theirs"}, headers=other.auth)
    assert r.status_code == 201, r.text
    theirs = r.json()["id"]

    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, admin.email)

            # the empty list, reached from the navigation
            await page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
            await expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()
            await expect(page.get_by_role("status")).to_have_text("No agents yet.")
            await screens.check("agents-empty")

            # create on the offline provider (preselected from the catalogue); the model select
            # follows the provider through htmx
            await page.get_by_role("link", name="New agent").click()
            llm_provider = page.locator("#llm_provider_id")
            await expect(llm_provider.locator("option:checked")).to_have_text(re.compile("Offline", re.I))
            gemini = await llm_provider.locator("option", has_text=re.compile("Gemini", re.I)).get_attribute("value")
            await llm_provider.select_option(gemini)
            await expect(page.locator("#llm_model_id option").first).to_contain_text(re.compile("gemini", re.I))
            offline = await llm_provider.locator("option", has_text=re.compile("Offline", re.I)).get_attribute("value")
            await llm_provider.select_option(offline)
            await expect(page.locator("#llm_model_id option").first).to_contain_text(re.compile("xtractive", re.I))
            await screens.check("agent-new")
            await page.get_by_label("Name", exact=True).fill("Support bot")
            await page.get_by_label("Description").fill("Answers questions about orders")
            await page.get_by_label("Instructions").fill("Be brief and cite the handbook.")
            await page.get_by_role("button", name="Create agent").click()
            await expect(page.locator(".notice")).to_have_text("Agent “Support bot” created.")
            agent_id = page.url.rsplit("/", 1)[1]
            r = await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)
            assert r.status_code == 200, r.text
            created = r.json()
            assert created["configuration"]["llm_provider"] == "offline"
            assert created["configuration"]["settings_level"] == "agent"
            assert created["personality_traits"]["instructions"] == "Be brief and cite the handbook."

            # a second agent, then the filled list and a search (htmx, as one types)
            r = await gateway.post("/api/v1/agent/" + agent_id + "/clone", json={"name": "Sales helper"},
                                   headers=admin.auth)
            assert r.status_code == 201, r.text
            await page.goto(console + "/agents")
            await expect(page.get_by_role("status")).to_have_text("2 agents")
            await expect(page.locator(".agent-row .badge").first).to_have_text("Active")
            await screens.check("agents-list")
            await page.get_by_label("Search agents").fill("sales")
            await expect(page.get_by_role("status")).to_have_text("1 agent")
            await expect(page.locator(".agent-name")).to_have_text(["Sales helper"])
            await expect(page.get_by_label("Search agents")).to_be_focused()
            await page.get_by_label("Search agents").fill("nothing-like-this")
            await expect(page.get_by_role("status")).to_have_text("No agent matches “nothing-like-this”.")
            await page.set_viewport_size({"width": 320, "height": 640})
            await page.get_by_label("Search agents").fill("")
            await expect(page.get_by_role("status")).to_have_text("2 agents")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("agents-list-320px")
            await page.set_viewport_size({"width": 1100, "height": 800})

            # edit with a bad value: the API's message at the field, and nothing saved
            await page.goto(f"{console}/agents/{agent_id}")
            await page.get_by_label("Name", exact=True).fill("Renamed bot")
            await page.get_by_label("Temperature").fill("5")
            await page.get_by_role("button", name="Save changes").click()
            await expect(page.locator("#temperature-error")).to_contain_text("2")
            await expect(page.get_by_label("Temperature")).to_have_attribute("aria-invalid", "true")
            await expect(page.get_by_label("Temperature")).to_be_focused()
            await screens.check("agent-form-error")
            r = await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)
            assert r.json()["name"] == "Support bot"
            assert r.json()["configuration"]["llm_temperature"] == created["configuration"]["llm_temperature"]
            # a key goes in as a password field and comes back only as the API's hint
            await page.get_by_label("Temperature").fill("0.3")
            await page.locator("#llm_key").fill("sk-test-secret-9876")
            await page.get_by_role("button", name="Save changes").click()
            await expect(page.locator(".notice")).to_have_text("Changes saved.")
            await expect(page.locator("#llm_key")).to_have_value("")
            await expect(page.locator("#llm_key-hint")).to_contain_text("9876")
            assert "sk-test-secret-9876" not in await page.content()
            r = await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)
            assert r.json()["name"] == "Renamed bot" and r.json()["configuration"]["llm_temperature"] == 0.3

            # clone through its confirmation (the question takes the focus)
            await page.get_by_role("link", name="Clone").click()
            await expect(page.get_by_role("heading", name="Clone “Renamed bot”?")).to_be_focused()
            await screens.check("agent-clone-dialog")
            await page.get_by_role("button", name="Clone agent").click()
            await expect(page.locator(".notice")).to_have_text("Agent “Renamed bot (copy)” created as a copy.")

            # delete through its confirmation, then restore
            await page.goto(f"{console}/agents/{agent_id}")
            await page.get_by_role("link", name="Delete").click()
            await expect(page.get_by_role("heading", name="Delete “Renamed bot”?")).to_be_focused()
            await screens.check("agent-delete-dialog")
            await page.get_by_role("button", name="Delete agent").click()
            await expect(page.get_by_role("status")).to_have_text("“Renamed bot” was deleted.")
            assert (await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)).status_code == 404
            await screens.check("agent-deleted")
            await page.get_by_role("button", name="Restore “Renamed bot”").click()
            await expect(page.locator(".notice")).to_have_text("Agent “Renamed bot” restored.")
            assert (await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)).status_code == 200

            # widget settings: a bad origin is refused at its field; the preview follows the form
            await page.get_by_role("link", name="Widget").click()
            await expect(page.locator("#embed-code")).to_have_value(re.compile(f'data-agent-id="{agent_id}"'))
            await page.get_by_label("Main colour").fill("#7c2d12")
            await page.get_by_label("Title", exact=True).fill("Ask us")
            await expect(page.locator("#preview-caption")).to_contain_text("#7c2d12")
            await expect(page.locator("#preview-caption")).to_contain_text("Ask us")
            await page.get_by_label("Allowed origins").fill("https://shop.example.com\nnot an origin")
            await page.get_by_role("button", name="Save widget settings").click()
            await expect(page.locator("#allowed_origins-error")).to_contain_text("not an origin")
            await screens.check("agent-widget-error")
            assert "allowed_origins" not in (await gateway.get(f"/api/v1/agent/{agent_id}",
                                                               headers=admin.auth)).json()["widget_config"]
            await page.get_by_label("Allowed origins").fill("https://shop.example.com\nhttps://www.example.com")
            await page.get_by_label("Ask visitors for their name and e-mail before chatting (lead capture)").uncheck()
            await page.get_by_role("button", name="Save widget settings").click()
            await expect(page.locator(".notice")).to_have_text("Widget settings saved.")
            widget = (await gateway.get(f"/api/v1/agent/{agent_id}", headers=admin.auth)).json()["widget_config"]
            assert widget["allowed_origins"] == ["https://shop.example.com", "https://www.example.com"]
            assert widget["primary_color"] == "#7c2d12" and widget["title"] == "Ask us"
            assert widget["lead_capture"] is False
            await expect(page.get_by_label("Main colour")).to_have_value("#7c2d12")
            await page.get_by_role("button", name="Copy the embed code").click()
            await expect(page.locator("#copy-status")).to_have_text("Copied.")
            await page.get_by_role("button", name="Make a test page").click()
            link = page.locator("#test-page-link")
            await expect(link).to_be_focused()
            test_url = await link.get_attribute("href")
            r = await gateway.get(test_url)
            assert r.status_code == 200 and agent_id in r.text
            await screens.check("agent-widget")

            # another company's agent is the 404 page
            r = await page.goto(f"{console}/agents/{theirs}")
            assert r.status == 404
            await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
            r = await page.goto(f"{console}/agents/{theirs}/widget")
            assert r.status == 404

            # a plain user: reads the list, no admin controls, the 403 page when typed by hand
            await page.get_by_role("button", name="Sign out").click()
            await _sign_in(page, console, member)
            for n in range(9):  # twelve agents: two pages of ten
                r = await gateway.post(f"/api/v1/agent/{agent_id}/clone", json={"name": f"Helper {n}"},
                                       headers=admin.auth)
                assert r.status_code == 201, r.text
            await page.goto(console + "/agents")
            await expect(page.get_by_role("status")).to_have_text("12 agents")
            await expect(page.locator(".agent-row")).to_have_count(10)
            await expect(page.get_by_text("Page 1 of 2")).to_be_visible()
            await page.get_by_role("link", name="Next").click()
            await expect(page.get_by_text("Page 2 of 2")).to_be_visible()
            await expect(page.locator(".agent-row")).to_have_count(2)
            await expect(page.get_by_role("link", name="Next")).to_have_count(0)
            await expect(page.get_by_role("link", name="New agent")).to_have_count(0)
            await expect(page.get_by_role("link", name=re.compile("^Delete"))).to_have_count(0)
            await screens.check("agents-list-member")
            r = await page.goto(console + "/agents/new")
            assert r.status == 403
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("agents-forbidden")
            r = await page.goto(f"{console}/agents/{agent_id}/delete")
            assert r.status == 403
            r = await page.goto(f"{console}/agents/{agent_id}")
            assert r.status == 200
            await expect(page.get_by_role("heading", name="Renamed bot")).to_be_visible()
            await expect(page.get_by_role("button", name="Save changes")).to_have_count(0)
            print(f"agents screenshots: {', '.join(screens.checked)}")
        finally:
            await browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_an_admin_restores_an_agent_from_the_deleted_agents_page(platform, gateway, tmp_path):
    """Deleted agents (`GET /api/v1/agent/deleted`): empty, filled, a refused restore, a restore."""
    from playwright.async_api import async_playwright, expect

    admin = await sign_up(gateway)
    await offline_settings(gateway, admin)
    member = await new_member(gateway, admin)
    made = {}
    for name in ("Kept", "Gone", "Twin"):
        r = await gateway.post("/api/v1/agent", json={"name": name}, headers=admin.auth)
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]

    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, admin.email)

            # nothing deleted yet
            await page.goto(console + "/agents")
            await page.get_by_role("link", name="Deleted agents").click()
            await expect(page.get_by_role("heading", name="Deleted agents", level=1)).to_be_visible()
            await expect(page.get_by_text("No deleted agents.")).to_be_visible()
            await screens.check("agents-deleted-empty")

            # delete "Gone" from the list, then find it among the deleted (not among the live)
            await page.get_by_role("link", name="Back to the agents").click()
            await page.get_by_role("link", name=f"Delete {DASH} Gone").click()
            await page.get_by_role("button", name="Delete agent").click()
            await expect(page.get_by_role("status")).to_have_text("“Gone” was deleted.")
            await page.goto(console + "/agents")
            await expect(page.locator(".agent-name")).to_have_text(["Twin", "Kept"])
            # "Twin" deleted through the API, and a live agent takes its name: its restore is refused
            assert (await gateway.delete(f"/api/v1/agent/{made['Twin']}", headers=admin.auth)).status_code == 200
            r = await gateway.post("/api/v1/agent", json={"name": "Twin"}, headers=admin.auth)
            assert r.status_code == 201, r.text
            await page.get_by_role("link", name="Deleted agents").click()
            rows = page.locator("tbody tr")
            await expect(rows).to_have_count(2)
            await expect(rows.locator("td:first-child")).to_have_text(["Twin", "Gone"])
            await screens.check("agents-deleted-list")

            await page.get_by_role("button", name=f"Restore {DASH} Twin").click()
            await expect(page.get_by_role("alert")).to_contain_text("Twin")
            await expect(page.get_by_role("heading", name="Deleted agents", level=1)).to_be_focused()
            await expect(rows).to_have_count(2)
            await screens.check("agents-deleted-refused")
            # the deleted list reflows at 320 CSS px (WCAG 1.4.10): no sideways scrolling
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("agents-deleted-320px")
            await page.set_viewport_size({"width": 1100, "height": 800})

            await page.get_by_role("button", name=f"Restore {DASH} Gone").click()
            await expect(page.locator(".notice")).to_have_text("Agent “Gone” restored.")
            await expect(rows.locator("td:first-child")).to_have_text(["Twin"])
            await page.get_by_role("link", name="Back to the agents").click()
            await expect(page.locator(".agent-name")).to_contain_text(["Gone"])
            assert (await gateway.get(f"/api/v1/agent/{made['Gone']}", headers=admin.auth)).status_code == 200

            # a plain user: no link, and the 403 page when typed by hand
            await page.get_by_role("button", name="Sign out").click()
            await _sign_in(page, console, member)
            await page.goto(console + "/agents")
            await expect(page.get_by_role("link", name="Deleted agents")).to_have_count(0)
            r = await page.goto(console + "/agents/deleted")
            assert r.status == 403
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            print(f"deleted agents screenshots: {', '.join(screens.checked)}")
        finally:
            await browser.close()
