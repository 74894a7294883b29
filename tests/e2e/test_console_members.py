"""The console's Members screen in a real browser (lane keys).

An admin adds a member (a refused form first), sees where the member is signed in (address and
device) and signs that session out (its refresh is refused), changes the member's role, is
refused changing their own, suspends the member through a confirmation (their sign-in is
refused), reactivates them and forces a password reset (their password stops working). A plain
user gets 403 pages. The Company screen: the profile (a refused e-mail at its field, then
saved), and the provider keys written, never shown (only the API's hint). Headless Chromium, axe-core on every state, screenshots.
"""

from __future__ import annotations

import uuid

import pytest

from .accounts import PASSWORD, offline_settings, sign_up
from .console import new_member
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e
DEVICE = "Member-Laptop/1.0 (e2e)"


async def _login(gateway, email: str, password: str = PASSWORD):
    return await gateway.post("/api/v1/auth/login", json={"email": email, "password": password},
                              headers={"User-Agent": DEVICE})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_members_add_sessions_role_suspend_reset_and_access(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    plain = await new_member(gateway, account)
    console = platform.gateway_url + "/console"
    tag = uuid.uuid4().hex[:8]
    email = f"grace-{tag}@example.com"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)
            await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Members").click()
            await expect(page.get_by_role("heading", name="Members", level=1)).to_be_visible()
            await expect(page.locator("table.list tbody tr")).to_have_count(2)
            await screens.check("members-filled")
            await page.get_by_label("Name, username or e-mail").fill("nobody-like-this")
            await page.get_by_role("button", name="Search").click()
            await expect(page.get_by_text("No member matches this search.")).to_be_visible()
            await screens.check("members-empty-search")

            # add a member: the API's refusal lands next to its field, then it works
            await page.goto(console + "/members/new")
            await page.get_by_label("E-mail").fill(plain)  # taken
            await page.get_by_label("Username").fill(f"grace_{tag}")
            await page.get_by_label("First name").fill("Grace")
            await page.get_by_label("Last name").fill("Hopper")
            await page.get_by_label("First password").fill(PASSWORD)
            await page.get_by_role("button", name="Add the member").click()
            await expect(page.locator("#email-error")).to_contain_text("already exists")
            await expect(page.get_by_label("E-mail")).to_be_focused()
            await screens.check("member-new-error")
            await page.get_by_label("E-mail").fill(email)
            await page.get_by_label("First password").fill(PASSWORD)
            await page.get_by_role("button", name="Add the member").click()
            await expect(page.get_by_role("heading", name="Grace Hopper", level=1)).to_be_visible()
            await expect(page.get_by_role("status")).to_contain_text("Grace Hopper is added")
            await expect(page.get_by_text("Not signed in anywhere.")).to_be_visible()
            member_url = page.url

            # who is signed in where: the member's sign-in with address and device; sign it out
            signed_in = await _login(gateway, email)
            assert signed_in.status_code == 200, signed_in.text
            await page.reload()
            rows = page.locator("#sessions tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text(DEVICE)
            await expect(rows.first).to_contain_text("127.0.0.1")
            await screens.check("member-sessions")
            await rows.first.get_by_role("button", name="Sign out the session from 127.0.0.1").click()
            await expect(page.get_by_role("status")).to_have_text("That session is signed out.")
            await expect(page.get_by_text("Not signed in anywhere.")).to_be_visible()
            r = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"]})
            assert r.status_code == 401, r.text
            r = await gateway.get("/api/v1/auth/user/me",
                                  headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"})
            assert r.status_code == 401, r.text

            # role: saved; the admin's own role change is refused next to the field
            await page.get_by_label("Role of Grace Hopper").select_option("admin")
            await page.get_by_role("button", name="Save the role").click()
            await expect(page.get_by_role("status")).to_have_text("Role saved: Administrator.")
            await expect(page.get_by_label("Role of Grace Hopper")).to_have_value("admin")
            await page.get_by_label("Role of Grace Hopper").select_option("user")
            await page.get_by_role("button", name="Save the role").click()
            await expect(page.get_by_role("status")).to_have_text("Role saved: Member.")
            await page.goto(f"{console}/members/{account.user['id']}")
            own = page.get_by_label(f"Role of {account.user['first_name']} {account.user['last_name']}")
            await own.select_option("user")
            await page.get_by_role("button", name="Save the role").click()
            await expect(page.locator("#role-error")).to_have_text("You cannot change your own role or status")
            await expect(own).to_be_focused()
            await screens.check("member-role-refused")
            assert (await gateway.get("/api/v1/auth/user/me", headers=account.auth)).json()["user"]["role"] == "admin"

            # suspend (confirmation first): the member's sign-in is refused; reactivate
            await page.goto(member_url)
            await page.get_by_role("link", name="Suspend…").click()
            dialog = page.get_by_role("alertdialog", name="Suspend Grace Hopper?")
            await expect(dialog).to_be_visible()
            await expect(dialog.get_by_role("heading")).to_be_focused()
            await screens.check("member-suspend-dialog")
            await dialog.get_by_role("button", name="Suspend").click()
            await expect(page.get_by_role("status")).to_have_text("The member is suspended and signed out everywhere.")
            await expect(page.locator("#member-status")).to_have_text("Suspended")
            r = await _login(gateway, email)
            assert r.status_code in (401, 403) and r.json()["error"] == "account_inactive", r.text
            await page.get_by_role("button", name="Reactivate").click()
            await expect(page.locator("#member-status")).to_have_text("Active")
            assert (await _login(gateway, email)).status_code == 200

            # force a password reset (confirmation first): the password stops working
            await page.get_by_role("link", name="Force a password reset…").click()
            dialog = page.get_by_role("alertdialog", name="Make Grace Hopper choose a new password?")
            await expect(dialog.get_by_role("heading")).to_be_focused()
            await screens.check("member-reset-dialog")
            await dialog.get_by_role("button", name="Reset the password").click()
            await expect(page.get_by_role("status")).to_contain_text("must choose a new password")
            await expect(page.get_by_text("Not signed in anywhere.")).to_be_visible()
            r = await _login(gateway, email)
            assert r.status_code != 200 and r.json()["error"] == "password_reset_required", r.text
            await context.close()

            # a plain user: no Members in the navigation, 403 pages at typed URLs
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("console", screens._console)
            await _sign_in(page, console, plain)
            await expect(page.get_by_role("link", name="Members")).to_have_count(0)
            for path in ("/members", "/members/new", f"/members/{account.user['id']}"):
                response = await page.goto(console + path)
                assert response is not None and response.status == 403, path
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("members-plain-user-403")
            await context.close()
        finally:
            await chromium.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_company_profile_and_provider_keys(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    plain = await new_member(gateway, account)
    await offline_settings(gateway, account)
    console = platform.gateway_url + "/console"
    tag = uuid.uuid4().hex[:8]
    secret = f"sk-test-{tag}-9876"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)
            await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Company").click()
            await expect(page.get_by_label("Company name")).to_have_value(account.company["name"])
            await expect(page.get_by_label("Language model key")).to_have_value("")
            await expect(page.get_by_text("None stored.").first).to_be_visible()
            await screens.check("company")

            await page.get_by_label("Company e-mail").fill("not-an-address")
            await page.get_by_role("button", name="Save the profile").click()
            await expect(page.locator("#email-error")).to_be_visible()
            await expect(page.get_by_label("Company e-mail")).to_be_focused()
            await screens.check("company-error")
            await page.get_by_label("Company e-mail").fill(f"office-{tag}@example.com")
            await page.get_by_label("Company name").fill(f"Renamed {tag}")
            await page.get_by_label("Phone").fill("+49 30 1234567")
            await page.get_by_role("button", name="Save the profile").click()
            await expect(page.get_by_role("status")).to_have_text("The company's profile is saved.")
            await expect(page.get_by_role("heading", name=f"Renamed {tag}", level=1)).to_be_visible()
            company = (await gateway.get("/api/v1/company", headers=account.auth)).json()
            assert (company["name"], company["email"], company["phone"]) == (
                f"Renamed {tag}", f"office-{tag}@example.com", "+49 30 1234567")

            await page.get_by_label("Language model key").fill(secret)
            await page.get_by_role("button", name="Save the keys").click()
            await expect(page.get_by_role("status")).to_have_text("The provider keys are saved.")
            await expect(page.locator("#llm_api_key-hint")).to_contain_text("9876")
            await expect(page.get_by_label("Language model key")).to_have_value("")
            assert secret not in await page.content()
            await screens.check("company-keys-saved")
            settings = (await gateway.get(f"/api/v1/settings/company/{account.company['id']}",
                                          headers=account.auth)).json()["settings"]
            assert settings[0]["llm_api_key_hint"].endswith("9876")
            await context.close()

            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("console", screens._console)
            await _sign_in(page, console, plain)
            response = await page.goto(console + "/company")
            assert response is not None and response.status == 403
            await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await context.close()
        finally:
            await chromium.close()
