"""The console's API keys screen in a real browser (lane keys).

An admin creates a key with the keyboard only (Tab, Space, Enter), sees its key and secret once
with Copy buttons and the focus on the key, uses it against the API as the SDK does
(X-API-Key + X-API-Secret), finds the secret gone after a reload, sees the call in the key's
usage, and revokes it through a confirmation dialog, after which the API refuses the key. A
plain user has no API keys screen. Headless Chromium under the console's CSP, axe-core on every
state, screenshots to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import asyncio

import pytest

from .accounts import sign_up
from .conftest import projections_caught_up
from .console import new_member
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e


async def _tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element with `element_id` has the focus."""
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_api_key_created_by_keyboard_secret_once_used_usage_and_revoked(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    member = await new_member(gateway, account)
    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)

            await page.get_by_role("navigation", name="Administration").get_by_role("link", name="API keys").click()
            await expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
            await expect(page.get_by_text("You have no API keys yet.")).to_be_visible()
            await screens.check("api-keys-empty")

            # a form the API's rules refuse here first: no name, no scope, a word for days
            await page.get_by_label("Name").fill("")
            await page.locator("#scope-read").uncheck()
            await page.get_by_label("Expires after (days)").fill("soon")
            await page.get_by_role("button", name="Create the key").click()
            await expect(page.locator("#name-error")).to_have_text("Give the key a name.")
            await expect(page.locator("#scopes-error")).to_have_text("Choose at least one scope.")
            await expect(page.locator("#expires_in_days-error")).to_have_text("Enter a whole number.")
            await expect(page.get_by_label("Name")).to_be_focused()
            await screens.check("api-keys-error")
            # the API's own limit (1 to 365 days) comes back next to its field
            await page.get_by_label("Name").fill("Too long")
            await page.locator("#scope-read").check()
            await page.get_by_label("Expires after (days)").fill("999")
            await page.get_by_role("button", name="Create the key").click()
            await expect(page.locator("#expires_in_days-error")).to_be_visible()
            await expect(page.get_by_label("Expires after (days)")).to_be_focused()
            assert (await gateway.get("/api/v1/auth/api-keys", headers=account.auth)).json()["api_keys"] == []

            # keyboard only: Tab to each field, type, Space on a scope, Enter sends the form
            await page.goto(console + "/api-keys")
            await page.keyboard.press("Tab")
            await _tab_to(page, "name")
            await page.keyboard.type("Website sync")
            await _tab_to(page, "scope-write")
            await page.keyboard.press("Space")
            await _tab_to(page, "expires_in_days")
            await page.keyboard.type("30")
            await _tab_to(page, "rate_limit_per_hour")
            await page.keyboard.type("500")
            await page.keyboard.press("Enter")
            key_field = page.get_by_label("Key (X-API-Key)")
            await expect(key_field).to_be_focused()
            await expect(page.get_by_text("Copy the key and the secret now: the secret is shown only this once.")
                         ).to_be_visible()
            await expect(page.get_by_role("button", name="Copy the key")).to_be_visible()
            await expect(page.get_by_role("button", name="Copy the secret")).to_be_visible()
            api_key = await key_field.input_value()
            api_secret = await page.get_by_label("Secret (X-API-Secret)").input_value()
            assert api_key and api_secret and api_key != api_secret
            row = page.locator("table.list tbody tr")
            await expect(row).to_have_count(1)
            await expect(row.first).to_contain_text("Website sync")
            await expect(row.first).to_contain_text("read, write")
            await expect(row.first.locator(".badge")).to_have_text("Active")
            await expect(row.first.locator("td").nth(4)).not_to_have_text("Never")  # it expires
            await screens.check("api-key-created")
            listed = (await gateway.get("/api/v1/auth/api-keys", headers=account.auth)).json()["api_keys"]
            assert [(k["name"], k["scopes"], k["rate_limit_per_hour"]) for k in listed] == [
                ("Website sync", ["read", "write"], 500)]
            assert listed[0]["expires_at"] is not None

            # the key works as the SDK sends it
            sdk = {"X-API-Key": api_key, "X-API-Secret": api_secret}
            r = await gateway.get("/api/v1/agent", headers=sdk)
            assert r.status_code == 200, r.text

            # reload: the secret is gone for good
            await page.reload()
            await expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
            await expect(page.locator("#new-api-key")).to_have_count(0)
            assert api_secret not in await page.content()
            await screens.check("api-keys-filled")

            # usage: the call shows up on the key's page
            await asyncio.sleep(1.5)  # the gateway publishes usage records about once a second
            await projections_caught_up(platform)
            await page.get_by_role("link", name="Website sync").click()
            await expect(page.get_by_role("heading", name="Website sync", level=1)).to_be_visible()
            endpoints = page.locator("#usage-endpoints tbody tr")
            for _ in range(20):
                if await endpoints.count():
                    break
                await asyncio.sleep(1)
                await page.reload()
            await expect(endpoints.filter(has_text="/api/v1/agent")).to_have_count(1)
            await expect(page.locator("#usage-total")).to_have_text("1 request")
            await screens.check("api-key-usage")

            # revoke: a confirmation dialog with the focus in it, then the key is refused
            await page.get_by_role("link", name="Revoke this key…").click()
            dialog = page.get_by_role("alertdialog", name="Revoke “Website sync”?")
            await expect(dialog).to_be_visible()
            await expect(dialog.get_by_role("heading")).to_be_focused()
            await screens.check("api-key-revoke-dialog")
            await dialog.get_by_role("button", name="Revoke the key").click()
            await expect(page).to_have_url(console + "/api-keys")
            await expect(page.get_by_role("status")).to_have_text("The key “Website sync” is revoked: it no longer works.")
            await expect(page.locator("table.list")).to_have_count(0)
            await screens.check("api-keys-after-revoke")
            r = await gateway.get("/api/v1/agent", headers=sdk)
            assert r.status_code == 401, r.text
            await context.close()

            # a plain user: no API keys in the navigation, the 403 page at the typed URL
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("console", screens._console)
            await _sign_in(page, console, member)
            await expect(page.get_by_role("link", name="API keys")).to_have_count(0)
            response = await page.goto(console + "/api-keys")
            assert response is not None and response.status == 403
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("api-keys-plain-user-403")
            await context.close()
        finally:
            await chromium.close()
