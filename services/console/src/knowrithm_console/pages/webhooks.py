"""Webhooks (admins only): the company's subscriptions; subscribe, edit, delete, rotate the secret.

Everything goes through the public API (`/api/v1/webhook…`) with the signed-in admin's token.
A new or rotated signing secret is shown once, in the answer to the form that made it (never
kept in the session). The delivery log, a delivery's detail, test sends, retries and the
signature check are in webhook_deliveries.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/webhooks")
PageDep = Annotated[Page, Depends(page_of)]
API = "/api/v1/webhook"
PER_PAGE = 25


@dataclass
class WebhookForm:
    """What the subscribe/edit form holds (also when sent back with errors)."""

    url: str = ""
    description: str = ""
    event_types: list[str] = field(default_factory=list)
    is_active: bool = True

    @classmethod
    def of(cls, webhook: dict[str, Any]) -> WebhookForm:
        return cls(webhook["url"], webhook.get("description") or "", list(webhook["event_types"]),
                   bool(webhook["is_active"]))

    def body(self) -> dict[str, Any]:
        return {"url": self.url.strip(), "description": self.description.strip() or None,
                "event_types": self.event_types, "is_active": self.is_active}


def posted_form(
    url: Annotated[str, Form(max_length=2000)] = "", description: Annotated[str, Form(max_length=500)] = "",
    event_types: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    is_active: Annotated[str, Form(max_length=10)] = "",
) -> WebhookForm:
    return WebhookForm(url, description, [t for t in event_types if t][:100], is_active == "on")


Posted = Annotated[WebhookForm, Depends(posted_form)]


async def event_types(page: Page) -> list[dict[str, Any]]:
    """The catalogue of subscribable event types (type and description)."""
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"{API}/event-types", client=page.client)
    return list(body.get("event_types") or [])


async def get_webhook(page: Page, webhook_id: uuid.UUID) -> dict[str, Any]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"{API}/{webhook_id}", client=page.client)
    webhook: dict[str, Any] = body["webhook"]
    return webhook


def form_errors(exc: ApiError) -> tuple[dict[str, str], str | None]:
    """The API's refusal as field errors (URL, event types) and a message for the rest."""
    fields = {k: v for k, v in exc.field_errors().items() if k in ("url", "event_types", "description")}
    if exc.code in ("url_not_allowed", "url_not_resolvable"):
        fields["url"] = message_of(exc)
    elif exc.code == "unknown_event_type":
        fields["event_types"] = message_of(exc)
    return fields, None if fields else message_of(exc)


async def _form(
    page: Page, *, webhook: dict[str, Any] | None, form: WebhookForm, errors: dict[str, str] | None = None,
    error: str | None = None, status: int = 200,
) -> Response:
    return await render(page, "webhook_form.html", status=status, webhook=webhook, form=form,
                        errors=errors or {}, error=error, catalogue=await event_types(page))


@router.get("")
async def webhooks(page: PageDep) -> Response:
    """The company's webhooks: address, events, active or not, the secret's last characters."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = await page.api.call(page.session, "GET", API, client=page.client)
    return await render(page, "webhooks.html", webhooks=body.get("webhooks") or [])


@router.get("/new")
async def new_form(page: PageDep) -> Response:
    """The subscribe form: address, events from the catalogue, description, active."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await _form(page, webhook=None, form=WebhookForm())


@router.post("/new")
async def create(page: PageDep, form: Posted) -> Response:
    """Subscribe; the answer shows the signing secret once."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    if not form.event_types:
        return await _form(page, webhook=None, form=form, status=422,
                           errors={"event_types": _("Choose at least one event type.")})
    try:
        body = await page.api.call(page.session, "POST", API, client=page.client, json=form.body())
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors, error = form_errors(exc)
        return await _form(page, webhook=None, form=form, errors=errors, error=error, status=exc.status)
    return await render(page, "webhook_secret.html", webhook=body["webhook"], secret=body["secret"],
                        created=True)


@router.get("/{webhook_id}/edit")
async def edit_form(page: PageDep, webhook_id: uuid.UUID) -> Response:
    """The webhook's form, filled in."""
    if (gone := await admin_page(page)) is not None:
        return gone
    webhook = await get_webhook(page, webhook_id)
    return await _form(page, webhook=webhook, form=WebhookForm.of(webhook))


@router.post("/{webhook_id}/edit")
async def update(page: PageDep, webhook_id: uuid.UUID, form: Posted) -> Response:
    """Save the changes; back to the webhook with a notice."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    webhook = await get_webhook(page, webhook_id)
    if not form.event_types:
        return await _form(page, webhook=webhook, form=form, status=422,
                           errors={"event_types": _("Choose at least one event type.")})
    try:
        await page.api.call(page.session, "PATCH", f"{API}/{webhook_id}", client=page.client,
                            json=form.body())
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors, error = form_errors(exc)
        return await _form(page, webhook=webhook, form=form, errors=errors, error=error, status=exc.status)
    page.session.notice = _("Webhook saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/webhooks/{webhook_id}")


@router.get("/{webhook_id}/{action}")
async def confirm(page: PageDep, webhook_id: uuid.UUID, action: str) -> Response:
    """The confirmation of a delete or a secret rotation (a dialog-like section with the focus)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    if action not in ("delete", "rotate"):
        raise ApiError(404, "not_found", _("There is no page at this address."))
    webhook = await get_webhook(page, webhook_id)
    return await render(page, "webhook_confirm.html", webhook=webhook, action=action)


@router.post("/{webhook_id}/delete")
async def delete(page: PageDep, webhook_id: uuid.UUID) -> Response:
    """Delete the webhook; back to the list with a notice."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    await page.api.call(page.session, "DELETE", f"{API}/{webhook_id}", client=page.client)
    page.session.notice = _("Webhook deleted. Nothing more is sent to it.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/webhooks")


@router.post("/{webhook_id}/rotate")
async def rotate(page: PageDep, webhook_id: uuid.UUID) -> Response:
    """A new signing secret, shown once; the old one stops at once."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = await page.api.call(page.session, "POST", f"{API}/{webhook_id}/rotate-secret", client=page.client)
    return await render(page, "webhook_secret.html", webhook=body["webhook"], secret=body["secret"],
                        created=False)


@router.get("/{webhook_id}")
async def detail(
    page: PageDep, webhook_id: uuid.UUID,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    log: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """One webhook: its settings, actions and delivery log (newest first, with Retry on failures)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    webhook = await get_webhook(page, webhook_id)
    found = await page.api.call(page.session, "GET", f"{API}/{webhook_id}/deliveries", client=page.client,
                                params={"page": page_number, "per_page": PER_PAGE})
    return await render(page, "webhook.html", webhook=webhook, deliveries=found.get("deliveries") or [],
                        pagination=found.get("pagination") or {}, page_number=page_number,
                        refreshed=bool(log))
