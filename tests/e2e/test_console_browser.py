"""The web console in a real browser: sign-in, home, sign-out, errors, session ended, reset.

Headless Chromium (Debian's /usr/bin/chromium through Playwright's executable_path: no browser
download) under the console's real Content-Security-Policy: any script, style or request the
policy refuses fails the test. axe-core (bundled by axe-playwright-python) checks every screen
and state for WCAG 2 A/AA violations. Screenshots go to the test's tmp dir and to
tests/e2e/artifacts/console/ (a folder git ignores).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from .accounts import PASSWORD, sign_up
from .console import COOKIE, session_key

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class Screens:
    """Checks and records each screen: axe finds nothing, the CSP refused nothing, a screenshot."""

    def __init__(self, page, tmp_path: Path) -> None:
        from axe_playwright_python.async_playwright import Axe

        self.page = page
        self.axe = Axe()
        self.tmp_path = tmp_path
        self.problems: list[str] = []
        self.checked: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        # Pages answered with an error status (401 for a wrong password, 404) are expected here;
        # anything else, a refusal of the Content-Security-Policy above all, is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            self.problems.append(f"console error: {message.text}")

    async def check(self, name: str) -> None:
        results = await self.axe.run(self.page, options={"runOnly": {"type": "tag", "values": WCAG}})
        assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"
        assert not self.problems, f"{name}: {self.problems}"
        shot = self.tmp_path / f"{name}.png"
        await self.page.screenshot(path=str(shot), full_page=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS.parent / ".gitignore").write_text("*\n")  # screenshots are never committed
        shutil.copyfile(shot, ARTIFACTS / f"{name}.png")
        self.checked.append(name)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_the_console_in_a_browser_is_usable_by_keyboard_and_accessible_in_every_state(
    platform, gateway, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)

            # signed out: the sign-in form, empty
            await page.goto(console + "/")
            await expect(page).to_have_url(console + "/sign-in")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            await screens.check("sign-in")

            # a wrong password: the API's error next to the field
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Password").fill("not-the-password")
            await page.get_by_role("button", name="Sign in").click()
            error = page.locator("#password-error")
            await expect(error).to_have_text("Invalid credentials")
            await expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
            await screens.check("sign-in-error")

            # keyboard only: the skip link comes first, then the form by Tab and Enter
            await page.goto(console + "/sign-in")
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
            for _ in range(12):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.id") == "email":
                    break
            await expect(page.get_by_label("E-mail")).to_be_focused()
            await page.keyboard.type(account.email)
            await page.keyboard.press("Tab")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")

            # home: the company's figures, then a refresh through htmx (under the CSP)
            await expect(page).to_have_url(console + "/")
            await expect(page.get_by_role("heading", level=1)).to_have_text(account.company["name"])
            await expect(page.locator(".tile").first).to_be_visible()
            await screens.check("home")
            await page.get_by_role("button", name="Refresh").focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("#figures [role=status]")).to_contain_text("Figures as of")
            await expect(page.get_by_role("button", name="Refresh")).to_be_focused()  # focus survives the swap
            await screens.check("home-refreshed")

            # reflow at 320 CSS pixels: nothing scrolls sideways
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("home-320px")
            await page.set_viewport_size({"width": 1100, "height": 760})

            # another language, from the switcher
            await page.get_by_label("Language").select_option("de")
            await page.get_by_role("button", name="Change").click()
            await expect(page.get_by_role("heading", name="Kennzahlen")).to_be_visible()
            await screens.check("home-de")
            await page.get_by_label("Sprache").select_option("en")
            await page.get_by_role("button", name="Wechseln").click()

            # sign out
            await page.get_by_role("button", name="Sign out").click()
            await expect(page).to_have_url(console + "/sign-in")
            await expect(page.get_by_role("status")).to_have_text("You are signed out.")
            await screens.check("signed-out")

            # a session ended elsewhere (signed out with its token on another device)
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")
            await _sign_out_elsewhere(platform, gateway, await context.cookies())
            await page.reload()
            await expect(page).to_have_url(console + "/session-ended")
            await expect(page.get_by_role("heading", name="Your session ended")).to_be_visible()
            await screens.check("session-ended")

            # forgot and reset password, and the reset form's error state
            await page.goto(console + "/forgot-password")
            await screens.check("forgot-password")
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_role("button", name="Send the link").click()
            await expect(page.get_by_role("status")).to_contain_text("is on its way")
            await screens.check("forgot-password-sent")
            await page.goto(console + "/reset-password?token=not-a-real-token-at-all")
            await screens.check("reset-password")
            await page.get_by_label("New password", exact=True).fill("Another-Pass-42")
            await page.get_by_label("New password again").fill("Another-Pass-42")
            await page.get_by_role("button", name="Save the new password").click()
            await expect(page.get_by_role("alert")).to_contain_text("not valid")
            await screens.check("reset-password-error")

            await page.goto(console + "/no-such-screen")
            await screens.check("not-found")
            print(f"console screenshots: {tmp_path} and {ARTIFACTS}: {', '.join(screens.checked)}")
        finally:
            await browser.close()


async def _sign_out_elsewhere(platform, gateway: httpx.AsyncClient, cookies: list[dict]) -> None:
    """Log the console session's tokens out at the API, as another device of the user could."""
    import json

    cookie = next(c["value"] for c in cookies if c["name"] == COOKIE)
    client = httpx.AsyncClient()
    client.cookies.set(COOKIE, cookie)
    redis = Redis.from_url(platform.env["REDIS_URL"])
    try:
        data = json.loads(await redis.get(session_key(client)))
    finally:
        await redis.aclose()
        await client.aclose()
    token = data["tokens"]["access_token"]
    r = await gateway.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
