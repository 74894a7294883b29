"""The console's platform screens (super admins) in a real browser, and their access rules.

A super admin adds a provider with a model (a refused identifier and an unreadable number
first, each shown next to its field), edits both, and a company admin then finds the model in
the agent form's choices. Bulk import of two providers, one invalid: nothing is imported, the
invalid row's problem is shown, and "Import the valid provider only" imports the other. The
seed and a deletion ask first (a dialog). A configuration value refused by the API is shown
next to its field; a valid one is kept (and put back to its default at the end). The health
page shows every process up; system metrics show the platform's and one company's figures. A
company admin has no Platform navigation and gets the 403 page at every typed platform URL.
Headless Chromium (Debian's) under the console's CSP; axe-core on every state; screenshots.
"""

from __future__ import annotations

import json
import uuid

import pytest

from .accounts import sign_up
from .conftest import projections_caught_up
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e

PLATFORM_PATHS = ("/platform/providers", "/platform/providers/new", "/platform/providers/import",
                  "/platform/config", "/platform/health", "/platform/metrics")
PROCESSES = ["gateway", "auth", "agents", "conversations", "ingestion", "analytics", "ingestion-worker",
             "console"]


async def _company_admin_is_kept_out(page, console: str, screens: Screens) -> None:
    from playwright.async_api import expect

    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Platform")).to_have_count(0)
    for path in PLATFORM_PATHS:
        response = await page.goto(console + path)
        assert response is not None and response.status == 403, path
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await screens.check("platform-403-company-admin")


async def _provider_and_model(page, console: str, screens: Screens, tag: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("navigation", name="Platform").get_by_role("link", name="Providers and models").click()
    await expect(page.get_by_role("heading", name="Providers and models", level=1)).to_be_visible()
    await screens.check("providers-filled")
    await page.get_by_role("link", name="Add a provider").click()
    await screens.check("provider-form-empty")
    await page.get_by_label("Identifier").fill("Not an identifier!")
    await page.get_by_label("Name", exact=True).fill(f"Acme {tag}")
    await page.get_by_label("Base URL", exact=True).fill("https://llm.acme.example/v1")
    await page.get_by_role("button", name="Add provider").click()
    await expect(page.locator("#value-error")).to_contain_text("pattern")  # the API's refusal, at its field
    await expect(page.get_by_label("Identifier")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Identifier")).to_be_focused()
    await screens.check("provider-form-error")
    await page.get_by_label("Identifier").fill(f"acme-{tag}")
    await page.get_by_role("button", name="Add provider").click()
    await expect(page.get_by_role("status")).to_have_text(f"Provider “Acme {tag}” added.")

    await page.get_by_role("link", name=f"Add a model \u2013 Acme {tag}").click()
    await page.get_by_label("Model name").fill(f"acme-chat-{tag}")
    await page.get_by_label("Display name").fill("Acme Chat")
    await page.get_by_label("Context window (tokens)").fill("lots")
    await page.get_by_label("Price per 1,000 input tokens").fill("0.5")
    await page.get_by_role("button", name="Add model").click()
    await expect(page.locator("#context_length-error")).to_have_text("Enter a whole number.")
    await expect(page.get_by_label("Context window (tokens)")).to_be_focused()
    await screens.check("model-form-error")
    await page.get_by_label("Context window (tokens)").fill("128,000")
    await page.get_by_role("button", name="Add model").click()
    await expect(page.get_by_role("status")).to_have_text("Model “Acme Chat” added.")
    row = page.locator(f"table.list tr:has(code:text-is('acme-chat-{tag}'))")
    await expect(row).to_contain_text("128,000")
    await expect(row).to_contain_text("0.5")

    await row.get_by_role("link", name="Edit Acme Chat").click()
    await expect(page.get_by_label("Context window (tokens)")).to_have_value("128000")
    await page.get_by_label("Display name").fill("Acme Chat Pro")
    await page.get_by_role("button", name="Save model").click()
    await expect(page.get_by_role("status")).to_have_text("Model “Acme Chat Pro” saved.")
    await page.get_by_role("link", name=f"Edit Acme {tag}", exact=True).click()
    await page.get_by_label("Name", exact=True).fill(f"Acme AI {tag}")
    await page.get_by_role("button", name="Save provider").click()
    await expect(page.get_by_role("status")).to_have_text(f"Provider “Acme AI {tag}” saved.")
    await expect(page.get_by_role("heading", name=f"Acme AI {tag}", level=2)).to_be_visible()


async def _bulk_import(page, screens: Screens, tag: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("link", name="Import providers").click()
    await expect(page.get_by_role("heading", name="Import providers", level=1)).to_be_visible()
    await screens.check("import-empty")
    rows = [
        {"value": f"bulk-ok-{tag}", "label": f"Bulk OK {tag}", "provider_type": "llm",
         "models": [{"name": f"bulk-chat-{tag}", "context_length": 8000}]},
        {"value": f"bulk-bad-{tag}", "label": f"Bulk Bad {tag}", "pricing_tier": "cheap"},
    ]
    await page.get_by_label("Or paste the JSON").fill(json.dumps({"providers": rows}))
    await page.get_by_role("button", name="Import", exact=True).click()
    refused = page.get_by_role("alert")
    await expect(refused).to_contain_text("Nothing was imported")
    await expect(refused).to_contain_text(f"Row 2 (Bulk Bad {tag})")
    await expect(refused).to_contain_text("pricing_tier")
    await expect(refused).not_to_contain_text("Row 1")
    await expect(page.get_by_role("heading", name="Nothing was imported")).to_be_focused()
    await screens.check("import-error")
    await page.get_by_role("button", name="Import the valid provider only").click()
    await expect(page.get_by_role("status")).to_contain_text("Imported. Providers: 1 added")
    await expect(page.get_by_role("heading", name=f"Bulk OK {tag}", level=2)).to_be_visible()
    await expect(page.get_by_role("heading", name=f"Bulk Bad {tag}", level=2)).to_have_count(0)


async def _dialogs(page, screens: Screens, tag: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("link", name=f"Delete… Bulk OK {tag}").click()
    dialog = page.get_by_role("alertdialog", name=f"Delete “Bulk OK {tag}”?")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading")).to_be_focused()
    await screens.check("provider-delete-dialog")
    await dialog.get_by_role("button", name="Delete provider").click()
    await expect(page.get_by_role("status")).to_have_text(f"Provider “Bulk OK {tag}” deleted.")
    await expect(page.get_by_role("heading", name=f"Bulk OK {tag}", level=2)).to_have_count(0)
    await page.get_by_role("link", name="Seed the defaults…").click()
    dialog = page.get_by_role("alertdialog", name="Seed the default providers and models?")
    await expect(dialog.get_by_role("heading")).to_be_focused()
    await screens.check("seed-dialog")
    await dialog.get_by_role("button", name="Seed the defaults").click()
    await expect(page.get_by_role("status")).to_contain_text("Defaults seeded.")


async def _configuration(page, console: str, screens: Screens, gateway, token: str) -> None:
    from playwright.async_api import expect

    await page.get_by_role("navigation", name="Platform").get_by_role("link", name="Configuration").click()
    await expect(page.get_by_role("heading", name="System configuration")).to_be_visible()
    await screens.check("config-filled")
    field = page.get_by_label("New value of max_file_size")
    await field.fill("10")
    await page.get_by_role("button", name="Save max_file_size").click()
    await expect(page.locator("#value-max_file_size-error")).to_contain_text("at least")
    await expect(page.get_by_label("New value of max_file_size")).to_be_focused()
    await screens.check("config-error")
    await page.get_by_label("New value of max_file_size").fill("60000000")
    await page.get_by_role("button", name="Save max_file_size").click()
    await expect(page.get_by_role("status")).to_have_text("“max_file_size” saved.")
    await page.goto(console + "/platform/config")
    await expect(page.locator("#now-max_file_size")).to_have_text("60000000")
    await expect(page.get_by_label("New value of max_file_size")).to_have_value("60000000")
    r = await gateway.get("/api/v1/config", headers={"Authorization": f"Bearer {token}"})
    assert {e["config_key"]: e["config_value"] for e in r.json()["configs"]}["max_file_size"] == 60000000
    await page.get_by_role("button", name="Back to the default \u2013 max_file_size").click()
    await expect(page.get_by_role("status")).to_have_text("“max_file_size” is back to its default.")
    await expect(page.locator("#now-max_file_size")).to_contain_text("Default:")


async def _health_and_metrics(page, screens: Screens, company: dict) -> None:
    from playwright.async_api import expect

    await page.get_by_role("navigation", name="Platform").get_by_role("link", name="Platform health").click()
    await expect(page.locator("#health-summary")).to_contain_text("Every service is up.")
    rows = page.locator("#health-table tbody tr")
    await expect(rows).to_have_count(len(PROCESSES))
    for name in PROCESSES:
        await expect(page.locator(f"#service-{name} .badge")).to_have_text("Up")
    await expect(page.locator("#service-auth")).to_contain_text("database: OK")
    await screens.check("health")
    async with page.expect_response(lambda r: "/platform/health/live" in r.url, timeout=15_000) as polled:
        pass
    assert (await polled.value).status == 200
    await expect(page.locator("#health-announce")).to_be_empty()  # nothing changed: nothing said
    await expect(rows).to_have_count(len(PROCESSES))

    await page.get_by_role("navigation", name="Platform").get_by_role("link", name="System metrics").click()
    await expect(page.get_by_role("heading", name="Metrics of the whole platform")).to_be_visible()
    await expect(page.locator("table.list")).to_contain_text("companies_registered")
    await screens.check("metrics-platform")
    await page.get_by_label("Company", exact=True).select_option(company["id"])
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("heading", name=f"Metrics of {company['name']}")).to_be_visible()
    users = page.locator("table.list tr:has(code:text-is('users_registered'))")
    await expect(users.locator(".figure").first).to_have_text("1")
    await screens.check("metrics-company")
    response = await page.goto(page.url.split("?")[0] + f"?company_id={uuid.uuid4()}")
    assert response is not None and response.status == 404  # no such company


NEEDS_CHROMIUM = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
# The first test of a run also waits for the platform to start (the fixture's setup counts).
SLOW = pytest.mark.timeout(600)


async def _super_admin(chromium, platform, tmp_path):
    context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
    page = await context.new_page()
    screens = Screens(page, tmp_path)
    await _sign_in(page, platform.gateway_url + "/console", platform.env["SUPER_ADMIN_EMAIL"],
                   platform.env["SUPER_ADMIN_PASSWORD"])
    return page, screens


@NEEDS_CHROMIUM
@SLOW
async def test_the_catalogue_screens_for_super_admins_feed_the_agent_form_and_admins_get_403(
    platform, gateway, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    tag = uuid.uuid4().hex[:8]
    console = platform.gateway_url + "/console"

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            admin_context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            admin = await admin_context.new_page()
            admin_screens = Screens(admin, tmp_path)
            await _sign_in(admin, console, account.email)
            await _company_admin_is_kept_out(admin, console, admin_screens)

            page, screens = await _super_admin(chromium, platform, tmp_path)
            await _provider_and_model(page, console, screens, tag)
            await _bulk_import(page, screens, tag)
            await _dialogs(page, screens, tag)
            await page.set_viewport_size({"width": 320, "height": 640})  # reflow: nothing scrolls sideways
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("providers-320px")

            # the company admin's agent form offers the new model under the new provider
            await admin.goto(console + "/agents/new")
            await admin.locator("#llm_provider_id").select_option(label=f"Acme AI {tag}")
            await expect(admin.locator("#llm_model_id option", has_text="Acme Chat Pro")).to_have_count(1)
            await admin_screens.check("agent-form-new-model")
        finally:
            await chromium.close()


@NEEDS_CHROMIUM
@SLOW
async def test_configuration_health_and_metrics_screens_for_super_admins(
    platform, gateway, super_admin_token, tmp_path
):
    from playwright.async_api import async_playwright

    account = await sign_up(gateway)
    await projections_caught_up(platform)
    console = platform.gateway_url + "/console"

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page, screens = await _super_admin(chromium, platform, tmp_path)
            await _configuration(page, console, screens, gateway, super_admin_token)
            await _health_and_metrics(page, screens, account.company)
        finally:
            await chromium.close()
