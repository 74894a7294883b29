"""Company (admins): the company's profile (name, e-mail, phone), its address, and the provider
keys of its company-wide LLM/embedding settings (write-only: shown as the API's hints).

`GET /api/v1/company`, `PATCH /api/v1/company/{id}`; settings from
`GET /api/v1/settings/company/{id}` (the company-level rows, `agent_id` null) and
`PUT /api/v1/settings/{settings_id}` with only the keys typed (an empty field keeps the key).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages import address_form
from knowrithm_console.pages.address_form import AddressForm
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/company")
PageDep = Annotated[Page, Depends(page_of)]
PROFILE_FIELDS = ("name", "email", "phone")
KEY_FIELDS = ("llm_api_key", "embedding_api_key")


async def _company(page: Page) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, "GET", "/api/v1/company", client=page.client)


async def _settings(page: Page, company_id: str) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(
        page.session, "GET", f"/api/v1/settings/company/{company_id}", client=page.client
    )
    # The company-wide row agents fall back on (the API lists the default first); one form only.
    return [s for s in body.get("settings") or [] if s.get("agent_id") is None][:1]


async def _page(
    page: Page,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    key_errors: dict[str, str] | None = None,
    address: AddressForm | None = None,
) -> Response:
    company = await _company(page)
    return await render(
        page,
        "company.html",
        status=status,
        company=company,
        values=values or {k: company.get(k) or "" for k in PROFILE_FIELDS},
        errors=errors or {},
        error=error,
        settings=await _settings(page, str(company["id"])),
        key_errors=key_errors or {},
        **await address_form.context(page, address),
    )


def _field_errors(exc: ApiError) -> dict[str, str]:
    """Validation messages by field: company bodies are parsed by hand, so `loc` is ["<field>"]."""
    found = exc.field_errors()
    for item in exc.detail if isinstance(exc.detail, list) else []:
        loc = item.get("loc") if isinstance(item, dict) else None
        if isinstance(loc, list) and loc and loc[0] in PROFILE_FIELDS:
            found.setdefault(str(loc[0]), str(item.get("msg", "")))
    return found


@router.get("")
async def company(page: PageDep) -> Response:
    """The company's profile, address and provider keys."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _page(page)


@router.post("")
async def save_profile(
    page: PageDep,
    name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
    phone: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Save the profile (`PATCH /api/v1/company/{id}`); the API's refusals next to their field."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    company_id = (await _company(page))["id"]
    values = {"name": name.strip(), "email": email.strip(), "phone": phone.strip() or None}
    try:
        await page.api.call(
            page.session, "PATCH", f"/api/v1/company/{company_id}", client=page.client, json=values
        )
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors = {k: v for k, v in _field_errors(exc).items() if k in PROFILE_FIELDS}
        if not errors and exc.status == 409:
            errors = {"email": message_of(exc)}
        return await _page(
            page,
            status=exc.status,
            values={**values, "phone": phone},
            errors=errors,
            error=None if errors else message_of(exc),
        )
    page.session.notice = _("The company's profile is saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/company")


@router.post("/settings/{settings_id}/keys")
async def save_keys(
    page: PageDep,
    settings_id: str,
    llm_api_key: Annotated[str, Form(max_length=600)] = "",
    embedding_api_key: Annotated[str, Form(max_length=600)] = "",
) -> Response:
    """Replace the provider keys typed (`PUT /api/v1/settings/{id}`); empty fields keep theirs."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = {
        k: v.strip()
        for k, v in (("llm_api_key", llm_api_key), ("embedding_api_key", embedding_api_key))
        if v.strip()
    }
    if not body:
        return await _page(
            page, status=422, key_errors={"llm_api_key": _("Type a new key, or leave this page.")}
        )
    try:
        await page.api.call(
            page.session, "PUT", f"/api/v1/settings/{settings_id}", client=page.client, json=body
        )
    except ApiError as exc:
        if exc.status not in (400, 422):
            raise
        errors = {k: v for k, v in exc.field_errors().items() if k in KEY_FIELDS}
        return await _page(page, status=exc.status, key_errors=errors or {"llm_api_key": message_of(exc)})
    page.session.notice = _("The provider keys are saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/company")


# -- lane address: the company's addresses (see address_form.py)


@router.post("/address")
async def add_address(
    page: PageDep,
    street_address: Annotated[str, Form(max_length=300)] = "",
    postal_code: Annotated[str, Form(max_length=40)] = "",
    country_id: Annotated[str, Form(max_length=20)] = "",
    state_id: Annotated[str, Form(max_length=20)] = "",
    city_id: Annotated[str, Form(max_length=20)] = "",
    is_primary: Annotated[str, Form(max_length=10)] = "",
    show: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Add an address (`POST /api/v1/address`); "Show states/cities" only re-renders the choices."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    form = AddressForm(street_address, postal_code, country_id, state_id, city_id, bool(is_primary))
    if show:
        return await _page(page, address=form)
    try:
        await page.api.call(page.session, "POST", "/api/v1/address", client=page.client, json=form.body())
    except ApiError as exc:
        if not address_form.refusal(form, exc):
            raise
        return await _page(page, status=exc.status, address=form)
    page.session.notice = _("The address is saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/company")


@router.get("/address/states")
async def state_options(page: PageDep, country_id: str = "") -> Response:
    """The state and city selects for the chosen country (htmx swaps them in on change)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await render(page, "_address_places.html", address=AddressForm(country_id=country_id),
                        states=await address_form.states(page, country_id), cities=[])


@router.get("/address/cities")
async def city_options(page: PageDep, state_id: str = "") -> Response:
    """The city select for the chosen state (htmx swaps it in on change)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await render(page, "_address_cities.html", address=AddressForm(state_id=state_id),
                        cities=await address_form.cities(page, state_id))
