"""A webhook's deliveries (admins only): send a test, retry a failed delivery, read exactly what
was sent and answered, and check a signature.

The signature check runs here, on the console's server, with the sender's algorithm (see
`signature_matches`); the pasted secret is used for that one computation and neither logged,
stored nor sent back to the page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.pages.webhooks import API, get_webhook
from knowrithm_console.web import PREFIX, Page, admin_page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/webhooks")
PageDep = Annotated[Page, Depends(page_of)]
SIGNATURE_HEADER = "X-Knowrithm-Signature"


def signature_matches(secret: str, payload: str, header: str) -> bool | None:
    """Whether `header` (`t=<unix seconds>,v1=<hex>`) signs `payload` with `secret`.

    The sender's algorithm: HMAC-SHA256 over "<t>." followed by the exact body, hex; any `v1`
    value may match. None when the header is not of that form.
    """
    parts = [item.strip().partition("=") for item in header.strip().split(",") if item.strip()]
    stamps = [value for name, _sep, value in parts if name == "t" and value.isdigit()]
    macs = [value for name, _sep, value in parts if name == "v1" and value]
    if len(stamps) != 1 or not macs:
        return None
    signed = f"{stamps[0]}.".encode() + payload.encode()
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac.lower()) for mac in macs)


@router.get("/signature")
async def signature_form(page: PageDep) -> Response:
    """The signature check: secret, payload and signature header in, valid or not out."""
    if (gone := await admin_page(page)) is not None:
        return gone
    return await render(page, "webhook_signature.html", payload="", header="", verdict=None, back=None)


@router.post("/signature")
async def check_signature(
    page: PageDep, secret: Annotated[str, Form(max_length=500)] = "",
    payload: Annotated[str, Form(max_length=1_000_000)] = "",
    header: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Say whether the signature header signs the payload with the secret (computed here)."""
    if (gone := await admin_page(page)) is not None:
        return gone
    # A browser sends a textarea's line breaks as CRLF; the signed body has none of its own.
    payload = payload.replace("\r\n", "\n")
    verdict = "missing" if not (secret and payload and header) else {
        True: "valid", False: "invalid", None: "malformed"}[signature_matches(secret, payload, header)]
    status = 200 if verdict in ("valid", "invalid") else 422
    back_url = back if back.startswith(f"{PREFIX}/webhooks/") else None
    return await render(page, "webhook_signature.html", status=status, payload=payload, header=header,
                        verdict=verdict, back=back_url)


@router.post("/{webhook_id}/test")
async def send_test(page: PageDep, webhook_id: uuid.UUID) -> Response:
    """Queue a signed test delivery; back to the webhook, whose log shows it."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    try:
        await page.api.call(page.session, "POST", f"{API}/{webhook_id}/test", client=page.client)
        page.session.notice = _("Test delivery queued. Refresh the log to see its outcome.")
    except ApiError as exc:
        if exc.status != 409:
            raise
        page.session.notice = message_of(exc)
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/webhooks/{webhook_id}#deliveries")


@router.post("/{webhook_id}/deliveries/{delivery_id}/retry")
async def retry(page: PageDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    """Send a failed delivery again; back to the webhook's log."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    try:
        await page.api.call(page.session, "POST", f"{API}/{webhook_id}/deliveries/{delivery_id}/retry",
                            client=page.client)
        page.session.notice = _("Delivery queued again.")
    except ApiError as exc:
        if exc.status != 409:
            raise
        page.session.notice = message_of(exc)
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/webhooks/{webhook_id}#deliveries")


def pretty(body: str | None) -> str:
    """A JSON body indented for reading (anything else as it is)."""
    if not body:
        return ""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


@router.get("/{webhook_id}/deliveries/{delivery_id}")
async def delivery(page: PageDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    """One delivery: the exact signed request of its last attempt and the receiver's answer."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    webhook = await get_webhook(page, webhook_id)
    found: dict[str, Any] = await page.api.call(
        page.session, "GET", f"{API}/{webhook_id}/deliveries/{delivery_id}", client=page.client)
    request = found.get("request") or None
    header = ""
    if request:
        header = next((v for k, v in request["headers"].items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    return await render(page, "webhook_delivery.html", webhook=webhook, d=found["delivery"], found=found,
                        request=request, response=found.get("response"), header=header, pretty=pretty)
