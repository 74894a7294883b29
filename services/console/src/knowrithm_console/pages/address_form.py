"""The Company screen's addresses (lane address): the company's list and the form adding one.

`GET /api/v1/address` (primary first), `POST /api/v1/address`; the places from the API's
reference data: `GET /api/v1/country`, `GET /api/v1/state/country/{id}`, `GET /api/v1/city/state/{id}`.
The state select follows the country and the city select follows the state (htmx swaps their
options; without JavaScript "Show states"/"Show cities" re-render the form with the choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import Page

FIELDS = ("street_address", "postal_code", "country_id", "state_id", "city_id", "is_primary")
PLACES = ("country_id", "state_id", "city_id")
_NOT_FOUND = {"country_not_found": "country_id", "state_not_found": "state_id", "city_not_found": "city_id"}


@dataclass(slots=True)
class AddressForm:
    """The address form as typed (ids as the selects send them: digits or empty)."""

    street_address: str = ""
    postal_code: str = ""
    country_id: str = ""
    state_id: str = ""
    city_id: str = ""
    is_primary: bool = True
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def body(self) -> dict[str, Any]:
        """The `POST /api/v1/address` body: ids as numbers (an unchosen place as null)."""
        return {
            "street_address": self.street_address.strip(),
            "postal_code": self.postal_code.strip() or None,
            **{k: _id(getattr(self, k)) for k in PLACES},
            "is_primary": self.is_primary,
        }


def _id(value: str) -> int | str | None:
    value = value.strip()
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 12 else value


async def _get(page: Page, path: str) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, "GET", path, client=page.client)


async def _list(page: Page, path: str) -> list[dict[str, Any]]:
    """A list the API answers as a JSON array (the client hands it over as `items`)."""
    return list((await _get(page, path)).get("items") or [])


async def countries(page: Page) -> list[dict[str, Any]]:
    return await _list(page, "/api/v1/country")


async def states(page: Page, country_id: str) -> list[dict[str, Any]]:
    """The country's states (none when no country is chosen, or it is not a known one)."""
    if not country_id.isdigit():
        return []
    try:
        return await _list(page, f"/api/v1/state/country/{country_id}")
    except ApiError as exc:
        if exc.status in (404, 422):
            return []
        raise


async def cities(page: Page, state_id: str) -> list[dict[str, Any]]:
    """The state's cities (none when no state is chosen, or it is not a known one)."""
    if not state_id.isdigit():
        return []
    try:
        return await _list(page, f"/api/v1/city/state/{state_id}")
    except ApiError as exc:
        if exc.status in (404, 422):
            return []
        raise


async def context(page: Page, form: AddressForm | None = None) -> dict[str, Any]:
    """What company.html needs for its Address section: the list, the form and its choices."""
    form = form or AddressForm()
    state_list = await states(page, form.country_id)
    if form.state_id not in {str(s["id"]) for s in state_list}:
        form.state_id = ""
    city_list = await cities(page, form.state_id)
    if form.city_id not in {str(c["id"]) for c in city_list}:
        form.city_id = ""
    listed = await _get(page, "/api/v1/address")
    return {
        "addresses": listed.get("address") or [],
        "address": form,
        "countries": await countries(page),
        "states": state_list,
        "cities": city_list,
    }


def refusal(form: AddressForm, exc: ApiError) -> bool:
    """Put the API's refusal on the form (next to its field when it names one); False if not one."""
    if exc.status not in (400, 404, 409, 422):
        return False
    errors = {k: v for k, v in exc.field_errors().items() if k in FIELDS}
    if exc.code in _NOT_FOUND:
        errors[_NOT_FOUND[exc.code]] = exc.message
    elif exc.code == "inconsistent_address":
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        errors["city_id" if "city_state_id" in detail else "state_id"] = exc.message
    empty = {"street_address": _("Type the street and number."), "country_id": _("Choose a country."),
             "state_id": _("Choose a state."), "city_id": _("Choose a city.")}
    for key, text in empty.items():
        if key in errors and not getattr(form, key).strip():
            errors[key] = text
    form.errors = {k: errors[k] for k in FIELDS if k in errors}
    form.error = None if form.errors else message_of(exc)
    return True
