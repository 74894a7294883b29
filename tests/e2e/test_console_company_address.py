"""The Company screen's addresses in a real browser (lane address).

The places come from the API's reference data, created here as the super admin (a country of
its own, two states, cities). An admin chooses country, state and city by keyboard (the state
and city selects follow through htmx, the focus stays on the select being used), is refused a
missing street at its field (nothing saved), then saves: the address is listed with a "Primary"
badge and `GET /api/v1/address` has it as primary. Without JavaScript, "Show states"/"Show
cities" give the choices, and a city that is not in the chosen state is refused at the city
field. The screen reflows at 320 px. Headless Chromium, axe-core on every state, screenshots.
"""

from __future__ import annotations

import uuid

import pytest

from .accounts import sign_up
from .test_console_browser import CHROMIUM, Screens
from .test_console_members import _sign_in

pytestmark = pytest.mark.e2e


async def _places(gateway, token: str, tag: str) -> dict[str, dict]:
    """A country of this test's own, two states and a city in each (created as the super admin)."""
    root = {"Authorization": f"Bearer {token}"}
    r = await gateway.post("/api/v1/country", json={"name": f"Qx{tag} Land"}, headers=root)
    assert r.status_code == 201, r.text
    country = r.json()
    made = {"country": country}
    for key, state_name, city_name in (("north", "Aland North", "Alpha Town"),
                                       ("south", "Bland South", "Beta City")):
        r = await gateway.post("/api/v1/state", json={"name": state_name, "country_id": country["id"]},
                               headers=root)
        assert r.status_code == 201, r.text
        made[key] = r.json()
        r = await gateway.post("/api/v1/city", json={"name": city_name, "state_id": made[key]["id"]},
                               headers=root)
        assert r.status_code == 201, r.text
        made[f"{key}-city"] = r.json()
    return made


async def _settled(page) -> None:
    """htmx has swapped and processed the new selects (a person is never faster than this)."""
    from playwright.async_api import expect

    await expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)


async def _choose(page, label: str, typed: str) -> None:
    """Focus the select by keyboard-reachable label and type the option's first letters."""
    select = page.get_by_label(label, exact=True)
    await select.focus()
    await page.keyboard.type(typed)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_company_address_chosen_by_keyboard_refused_then_saved_as_primary(
    platform, gateway, super_admin_token, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account = await sign_up(gateway)
    tag = uuid.uuid4().hex[:8]
    places = await _places(gateway, super_admin_token, tag)
    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await _sign_in(page, console, account.email)
            await page.goto(console + "/company")
            await expect(page.get_by_text("No address is set for the company.")).to_be_visible()
            await expect(page.get_by_label("State or region")).to_contain_text("Choose a country first")
            await expect(page.get_by_label("The company's primary address")).to_be_checked()
            await screens.check("company-address-empty")

            # country, then state, by keyboard: each dependent select follows, the focus stays put
            await _choose(page, "Country", f"Qx{tag}")
            await expect(page.get_by_label("Country", exact=True)).to_have_value(str(places["country"]["id"]))
            state = page.get_by_label("State or region")
            # the states of this country (type-ahead may pass over other countries on the way)
            await expect(state.locator(f'option[value="{places["south"]["id"]}"]')).to_have_count(1)
            await expect(state.locator("option")).to_have_count(3)
            await _settled(page)
            await expect(page.get_by_label("Country", exact=True)).to_be_focused()
            await page.keyboard.press("Tab")
            await expect(state).to_be_focused()
            await page.keyboard.type("Bland")
            await expect(state).to_have_value(str(places["south"]["id"]))
            city = page.get_by_label("City", exact=True)
            await expect(city.locator("option", has_text="Beta City")).to_have_count(1)
            await expect(city.locator("option", has_text="Alpha Town")).to_have_count(0)
            await _settled(page)
            await expect(state).to_be_focused()
            await page.keyboard.press("Tab")
            await expect(city).to_be_focused()
            await page.keyboard.type("Beta")
            await expect(city).to_have_value(str(places["south-city"]["id"]))
            await screens.check("company-address-filled")

            # no street: the API's refusal at the street field, the choices kept, nothing saved
            await page.get_by_label("Postal code").fill("10115")
            await page.get_by_role("button", name="Save the address").click()
            await expect(page.locator("#street_address-error")).to_contain_text("Type the street and number.")
            await expect(page.get_by_label("Street and number")).to_be_focused()
            await expect(page.get_by_label("City", exact=True)).to_have_value(str(places["south-city"]["id"]))
            await expect(page.get_by_label("Postal code")).to_have_value("10115")
            listed = (await gateway.get("/api/v1/address", headers=account.auth)).json()["address"]
            assert listed == []
            await screens.check("company-address-error")

            await page.get_by_label("Street and number").fill(f"Hauptstraße {tag}")
            await page.get_by_role("button", name="Save the address").click()
            await expect(page.get_by_role("status")).to_have_text("The address is saved.")
            item = page.locator(".address-list li")
            await expect(item).to_have_count(1)
            await expect(item).to_contain_text(f"Hauptstraße {tag}, 10115, Beta City, Bland South, Qx{tag} Land")
            await expect(item.locator(".badge")).to_have_text("Primary")
            listed = (await gateway.get("/api/v1/address", headers=account.auth)).json()["address"]
            assert [(a["street_address"], a["city"]["id"], a["is_primary"]) for a in listed] == [
                (f"Hauptstraße {tag}", places["south-city"]["id"], True)]
            await screens.check("company-address-saved")

            # 320 CSS px: no sideways scrolling (WCAG 1.4.10)
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("company-address-320px")
            await context.close()

            # without JavaScript: the buttons show the choices; a city of another state is refused
            context = await chromium.new_context(viewport={"width": 1100, "height": 760}, locale="en-GB",
                                                 java_script_enabled=False)
            page = await context.new_page()
            await _sign_in(page, console, account.email)
            await page.goto(console + "/company")
            await page.get_by_label("Street and number").fill(f"Nebenweg {tag}")
            await page.get_by_label("Country", exact=True).select_option(str(places["country"]["id"]))
            await page.get_by_role("button", name="Show states").click()
            await page.get_by_label("State or region").select_option(str(places["north"]["id"]))
            await page.get_by_role("button", name="Show cities").click()
            await expect(page.get_by_label("Street and number")).to_have_value(f"Nebenweg {tag}")
            await page.get_by_label("City", exact=True).select_option(str(places["north-city"]["id"]))
            await page.get_by_label("State or region").select_option(str(places["south"]["id"]))
            await page.get_by_label("The company's primary address").uncheck()
            await page.get_by_role("button", name="Save the address").click()
            error = page.locator("#city_id-error")
            await expect(error).to_contain_text("is not in state")
            await expect(page.get_by_label("City", exact=True)).to_have_attribute("aria-invalid", "true")
            listed = (await gateway.get("/api/v1/address", headers=account.auth)).json()["address"]
            assert len(listed) == 1

            await page.get_by_role("button", name="Show cities").click()
            await page.get_by_label("City", exact=True).select_option(str(places["south-city"]["id"]))
            await page.get_by_role("button", name="Save the address").click()
            await expect(page.locator(".address-list li")).to_have_count(2)
            await expect(page.locator(".address-list li").first).to_contain_text(f"Hauptstraße {tag}")
            listed = (await gateway.get("/api/v1/address", headers=account.auth)).json()["address"]
            assert [(a["street_address"], a["is_primary"]) for a in listed] == [
                (f"Hauptstraße {tag}", True), (f"Nebenweg {tag}", False)]
            await context.close()
        finally:
            await chromium.close()
