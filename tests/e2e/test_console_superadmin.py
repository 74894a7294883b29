"""The console's audit log and the platform's screens (super admins), in a real browser.

The launcher's super admin lists and searches companies, creates one (a refused e-mail first),
edits it, sees what deleting it touches before a cascade delete with the typed name (a wrong
name first), restores it, bulk-deletes and bulk-restores two; then lists another company's
users and impersonates one: the banner is on every page visited, the audit log shows the
impersonation, Stop ends it; an impersonation whose token has run out returns the console to
the super admin's own session by itself. A company admin sees no platform navigation and gets
403 pages at the platform's URLs; their audit log filters by person, action and dates, pages,
and shows a refused date range next to its field. Headless Debian Chromium under the real CSP,
axe-core on every state (empty, filled, error, dialog), screenshots to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid

import pytest
from redis.asyncio import Redis

from .accounts import PASSWORD, owner_body, sign_up
from .conftest import projections_caught_up
from .console import COOKIE, browser, new_member, sign_in
from .console import sign_in_page as _sign_in
from .test_console_browser import CHROMIUM, Screens
from .test_leads import bearer

pytestmark = pytest.mark.e2e
SKIP = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


async def _audit(gateway, token: str, **params: str) -> list[dict]:
    """The audit log's entries through the API, waiting (10 s at most) until there is one."""
    for _ in range(100):
        r = await gateway.get("/api/v1/audit-log", params={"per_page": 100, **params}, headers=bearer(token))
        assert r.status_code == 200, r.text
        if r.json()["audit_logs"]:
            break
        await asyncio.sleep(0.1)
    return r.json()["audit_logs"]


async def _run_out(platform, context) -> None:
    """Make the console see its acting token as run out (as 15 minutes after it was given)."""
    cookie = next(c["value"] for c in await context.cookies() if c["name"] == COOKIE)
    key = "console:session:" + hashlib.sha256(cookie.encode()).hexdigest()
    redis = Redis.from_url(platform.env["REDIS_URL"])
    try:
        data = json.loads(await redis.get(key))
        assert data["impersonation"] is not None and data["tokens"]["refresh_token"] is None
        data["tokens"]["expires_at"] = 0
        await redis.set(key, json.dumps(data), ex=max(await redis.ttl(key), 60))
    finally:
        await redis.aclose()


async def _companies(page, screens, console: str, gateway, super_token: str, tag: str) -> None:
    """Search, create (refused, then saved), edit, delete with counts and the typed name, restore, bulk."""
    from playwright.async_api import expect

    platform_nav = page.get_by_role("navigation", name="Platform")
    await platform_nav.get_by_role("link", name="Companies").click()
    await expect(page.get_by_role("heading", name="Companies", level=1)).to_be_visible()
    await expect(page.locator("table.list tbody tr").first).to_be_visible()
    await screens.check("platform-companies")

    await page.get_by_label("Name or e-mail contains").fill(f"nothing-like-{tag}")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_text("No company matches this search.")).to_be_visible()
    await screens.check("platform-companies-empty")

    await page.get_by_role("link", name="Clear search").click()
    await page.get_by_role("link", name="New company").click()
    await page.get_by_label("Name").fill(f"Orbit {tag}")
    await page.get_by_label("E-mail").fill("not-an-address")
    await page.get_by_role("button", name="Create the company").click()
    await expect(page.locator("#email-error")).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_be_focused()
    await screens.check("platform-company-form-error")
    await page.get_by_label("E-mail").fill(f"orbit-{tag}@example.com")
    await page.get_by_role("button", name="Create the company").click()
    await expect(page.locator("main > p.notice")).to_have_text(f"Company created: Orbit {tag}.")
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(1)

    await page.get_by_role("link", name=f"Orbit {tag}", exact=True).click()
    await page.get_by_label("Phone (optional)").fill("+351 21 000 0000")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("main > p.notice")).to_have_text(f"Company saved: Orbit {tag}.")
    r = await gateway.get("/api/v1/super-admin/company", params={"search": f"Orbit {tag}"}, headers=bearer(super_token))
    orbit = r.json()["companies"][0]
    assert orbit["phone"] == "+351 21 000 0000"
    r = await gateway.post("/api/v1/auth/register", json=owner_body(tag, orbit["id"]))  # one user to count
    assert r.status_code == 201, r.text

    # delete: the counts first, a wrong name refused, then the cascade
    await page.goto(f"{console}/platform/companies?search=Orbit+{tag}")
    await page.get_by_role("link", name=f"Delete Orbit {tag}…").click()
    dialog = page.get_by_role("alertdialog", name=f"Delete Orbit {tag}?")
    await expect(dialog).to_contain_text("1 user")
    await expect(dialog).to_contain_text("0 active API keys")
    await screens.check("platform-company-delete-dialog")
    await page.get_by_label("The company with its users and addresses").check()
    await page.get_by_label("Type the company's name to confirm").fill("Orbit")
    await page.get_by_role("button", name="Delete the company").click()
    await expect(page.locator("#confirm-error")).to_have_text(f"Type the company's name exactly: Orbit {tag}.")
    await expect(page.get_by_label("Type the company's name to confirm")).to_be_focused()
    await expect(page.get_by_label("The company with its users and addresses")).to_be_checked()
    await screens.check("platform-company-delete-error")
    assert (await gateway.get("/api/v1/company/deleted", params={"search": tag},
                              headers=bearer(super_token))).json()["companies"] == []
    await page.get_by_label("Type the company's name to confirm").fill(f"Orbit {tag}")
    await page.get_by_role("button", name="Delete the company").click()
    await expect(page.get_by_role("heading", name="Deleted companies", level=1)).to_be_visible()
    await expect(page.locator("main > p.notice")).to_contain_text(f"Orbit {tag} is deleted with its users")
    await screens.check("platform-companies-deleted")
    r = await gateway.post("/api/v1/auth/login", json={"email": owner_body(tag, "")["email"], "password": PASSWORD})
    assert r.status_code in (401, 403), r.text  # the cascade took the company's users with it

    await page.get_by_role("button", name=f"Restore Orbit {tag}").click()
    await expect(page.locator("main > p.notice")).to_have_text(f"Orbit {tag} is restored.")
    r = await gateway.post("/api/v1/auth/login", json={"email": owner_body(tag, "")["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text

    # bulk: two companies selected, a confirmation naming them, deleted; then restored together
    for n in (1, 2):
        r = await gateway.post("/api/v1/company", json={"name": f"Bulk{n} {tag}", "email": f"bulk{n}-{tag}@example.com"})
        assert r.status_code == 201, r.text
    await page.goto(f"{console}/platform/companies?search=Bulk")
    for n in (1, 2):
        await page.get_by_label(f"Select Bulk{n} {tag}").check()
    await page.get_by_role("button", name="Delete selected…").click()
    bulk = page.get_by_role("alertdialog", name="Delete 2 companies?")
    await expect(bulk).to_contain_text(f"Bulk1 {tag}")
    await screens.check("platform-companies-bulk-dialog")
    await page.get_by_role("button", name="Delete them").click()
    await expect(page.locator("main > p.notice")).to_have_text("2 companies deleted.")
    await page.get_by_label(f"Select Bulk1 {tag}").check()
    await page.get_by_label(f"Select Bulk2 {tag}").check()
    await page.get_by_role("button", name="Restore selected").click()
    await expect(page.locator("main > p.notice")).to_have_text("2 companies restored.")
    r = await gateway.get("/api/v1/super-admin/company", params={"search": f"Bulk1 {tag}"}, headers=bearer(super_token))
    assert len(r.json()["companies"]) == 1


async def _impersonation(page, screens, console: str, gateway, platform, context, other, member: str,
                         super_token: str) -> None:
    """Impersonate another company's user: banner on every page, audited, Stop; then one that runs out."""
    from playwright.async_api import expect

    await page.get_by_role("navigation", name="Platform").get_by_role("link", name="Users").click()
    await page.get_by_label("Company", exact=True).select_option(other.company["id"])
    await page.get_by_role("button", name="Show its users").click()
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(2)
    member_row = rows.filter(has_text=member)
    await expect(member_row.locator(".badge").first).to_have_text("Member")
    await expect(member_row.locator(".badge").nth(1)).to_have_text("Active")
    await screens.check("platform-users")

    await member_row.get_by_role("button", name="Impersonate Ada Lovelace").click()
    await expect(page).to_have_url(console + "/")
    banner = page.get_by_role("region", name="Acting as another user")
    acting = re.compile(rf"You are acting as Ada Lovelace \({re.escape(other.company['name'])}\) — ends at .+\.")
    await expect(banner.get_by_role("status")).to_have_text(acting)
    await expect(page.get_by_role("navigation", name="Platform")).to_have_count(0)  # the user's own console
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home")  # a member's personal home
    await screens.check("impersonating-home")
    for path, heading in (("/agents", "Agents"), ("/conversations", "Conversations"), ("/profile", "Your profile")):
        await page.goto(console + path)
        await expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        await expect(banner.get_by_role("status")).to_have_text(acting)
    response = await page.goto(console + "/platform/companies")  # acting as a member: not theirs
    assert response is not None and response.status == 403
    await expect(banner).to_be_visible()
    await screens.check("impersonating-403")

    await projections_caught_up(platform)
    started = await _audit(gateway, super_token, action="user.impersonated", company_id=other.company["id"])
    member_id = started[0]["target"]["id"]
    await page.get_by_role("button", name="Stop acting as Ada Lovelace").click()
    await expect(page.locator("main > p.notice")).to_have_text(
        "You no longer act as Ada Lovelace. You are back in your own session.")
    await expect(banner).to_have_count(0)
    await expect(page.get_by_role("heading", name="Users across companies")).to_be_visible()

    # the audit log, as the super admin: the impersonation, by them, of the member
    await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit log").click()
    await page.get_by_label("Action").fill("user.impersonated")
    await page.get_by_role("button", name="Filter").click()
    first = page.locator("table.list tbody tr").first
    await expect(first).to_contain_text("user.impersonated")
    await expect(first).to_contain_text(member)  # the resource: the member, by name
    await screens.check("audit-impersonation")
    entries = await _audit(gateway, super_token, action="user.logout", company_id=other.company["id"])
    assert any(e["actor"]["id"] == member_id and e["actor"]["impersonator_id"] for e in entries)  # Stop revoked it

    # an impersonation whose token runs out: back to the own session, with a notice
    await page.goto(f"{console}/platform/users?company_id={other.company['id']}")
    await page.locator("table.list tbody tr").filter(has_text=member).get_by_role("button").click()
    await expect(banner).to_be_visible()
    await _run_out(platform, context)
    await page.goto(console + "/agents")
    await expect(page.locator("main > p.notice")).to_have_text(
        "Acting as Ada Lovelace has ended: its time ran out. You are back in your own session.")
    await expect(banner).to_have_count(0)
    await expect(page.get_by_role("navigation", name="Platform")).to_be_visible()
    await screens.check("impersonation-ran-out")


@SKIP
async def test_super_admin_companies_impersonation_and_audit_in_the_browser(platform, gateway, tmp_path,
                                                                             super_admin_token):
    from playwright.async_api import async_playwright

    tag = uuid.uuid4().hex[:8]
    other = await sign_up(gateway)
    member = await new_member(gateway, other)
    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, platform.env["SUPER_ADMIN_EMAIL"], platform.env["SUPER_ADMIN_PASSWORD"])
            await _companies(page, screens, console, gateway, super_admin_token, tag)
            await _impersonation(page, screens, console, gateway, platform, context, other, member,
                                 super_admin_token)
            await page.set_viewport_size({"width": 320, "height": 640})  # reflow, banner included
            await page.goto(f"{console}/platform/users?company_id={other.company['id']}")
            await page.locator("table.list tbody tr").filter(has_text=member).get_by_role("button").click()
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("impersonating-320px")
            print(f"screenshots: {', '.join(screens.checked)}")
        finally:
            await chromium.close()


@SKIP
async def test_company_admin_audit_filters_paging_and_no_platform_screens(platform, gateway, tmp_path):
    from playwright.async_api import async_playwright, expect

    admin = await sign_up(gateway)
    member = await new_member(gateway, admin)
    for n in range(21):  # 21 profile changes: two pages of 20
        r = await gateway.put("/api/v1/user/profile", json={"first_name": f"Grace{n}"}, headers=admin.auth)
        assert r.status_code == 200, r.text
    await projections_caught_up(platform)
    console = platform.gateway_url + "/console"
    today = dt.date.today()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, admin.email)
            await expect(page.get_by_role("navigation", name="Platform")).to_have_count(0)
            for path in ("/platform/companies", "/platform/companies/new", "/platform/companies/deleted",
                         f"/platform/companies/{admin.company['id']}/delete", "/platform/users"):
                response = await page.goto(console + path)
                assert response is not None and response.status == 403, path
                await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
            await screens.check("platform-403-company-admin")

            await page.goto(console + "/")
            await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Audit log").click()
            rows = page.locator("table.list tbody tr")
            await expect(rows).to_have_count(20)
            await screens.check("audit-filled")

            # by person and action: 21 entries, two pages
            await page.get_by_label("Person").select_option(admin.user["id"])
            await page.get_by_label("Action").fill("user.profile_updated")
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("21 entries")).to_be_visible()
            await expect(rows).to_have_count(20)
            await expect(rows.first).to_contain_text("user.profile_updated")
            await expect(rows.first.locator(".badge")).to_have_text(re.compile("risk"))
            await page.get_by_role("link", name="Next page").click()
            await expect(rows).to_have_count(1)
            await expect(page.get_by_text("Page 2 of 2")).to_be_visible()
            await page.get_by_role("link", name="Previous page").click()
            await expect(rows).to_have_count(20)

            # dates: today has them, tomorrow nothing; a range backwards is refused at its field
            await page.get_by_label("From (day)").fill(today.isoformat())
            await page.get_by_label("Until (day)").fill(today.isoformat())
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("21 entries")).to_be_visible()
            tomorrow = (today + dt.timedelta(days=1)).isoformat()
            await page.get_by_label("From (day)").fill(tomorrow)
            await page.get_by_label("Until (day)").fill(tomorrow)
            await page.get_by_role("button", name="Filter").click()
            await expect(page.get_by_text("No entry matches these filters.")).to_be_visible()
            await screens.check("audit-empty")
            await page.get_by_label("Until (day)").fill(today.isoformat())
            await page.get_by_role("button", name="Filter").click()
            await expect(page.locator("#filter-end-error")).to_have_text("The end date is before the start date.")
            await expect(page.get_by_label("Until (day)")).to_be_focused()
            await expect(page.get_by_role("alert")).to_be_visible()
            await screens.check("audit-error")
            response = await page.goto(f"{console}/audit?start=2026-13-45&risk=extreme")
            assert response is not None and response.status == 422
            await expect(page.locator("#filter-start-error")).to_have_text("Enter a date as YYYY-MM-DD.")
            await expect(page.locator("#filter-risk-error")).to_have_text("Choose a risk level from the list.")
            await context.close()

            # a plain member: no audit log, 403 pages on every console screen of this lane
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens.page = page
            page.on("console", screens._console)
            await _sign_in(page, console, member)
            await expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
            for path in ("/audit", "/platform/companies", "/platform/users"):
                response = await page.goto(console + path)
                assert response is not None and response.status == 403, path
            await screens.check("audit-plain-user-403")
        finally:
            await chromium.close()


async def test_impersonation_refused_by_auth_returns_to_the_own_session_without_a_browser(
    platform, gateway, super_admin_token
):
    """An acting token auth stops accepting (revoked elsewhere) is not refreshed: the own session is back."""
    other = await sign_up(gateway)
    member = await new_member(gateway, other)
    r = await gateway.get(f"/api/v1/super-admin/company/{other.company['id']}/user", headers=bearer(super_admin_token))
    member_id = next(u["id"] for u in r.json()["users"] if u["email"] == member)
    async with browser(platform) as client:
        await sign_in(client, platform.env["SUPER_ADMIN_EMAIL"], platform.env["SUPER_ADMIN_PASSWORD"])
        r = await client.get("/console/platform/users", params={"company_id": other.company["id"]})
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
        r = await client.post(f"/console/platform/users/{member_id}/impersonate", data={"csrf_token": token})
        assert r.status_code == 303
        home = await client.get("/console/")
        assert "You are acting as Ada Lovelace" in home.text
        redis = Redis.from_url(platform.env["REDIS_URL"])
        try:
            key = "console:session:" + hashlib.sha256(client.cookies[COOKIE].encode()).hexdigest()
            acting = json.loads(await redis.get(key))["tokens"]["access_token"]
        finally:
            await redis.aclose()
        r = await gateway.post("/api/v1/auth/logout", json={}, headers=bearer(acting))  # revoked elsewhere
        assert r.status_code == 200, r.text
        r = await client.get("/console/agents")
        assert r.status_code == 303 and r.headers["location"] == "/console/"
        home = await client.get("/console/")
        assert "Acting as Ada Lovelace has ended" in home.text and "You are acting as" not in home.text
        assert 'href="/console/platform/companies"' in home.text  # the super admin's own navigation
        r = await client.get("/console/platform/companies")
        assert r.status_code == 200
