"""Webhook use cases: register, change, rotate, retry, test (delivering: delivery.py).

Services flush, never commit: the request's session commits the change and its outbox rows.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from knowrithm_analytics.models import Webhook, WebhookDelivery, outbox
from knowrithm_analytics.webhooks import repository as repo
from knowrithm_analytics.webhooks.catalogue import TEST_EVENT_TYPE, validate_patterns
from knowrithm_analytics.webhooks.delivery import WebhookTools, enqueue
from knowrithm_analytics.webhooks.schemas import WebhookCreate, WebhookUpdate
from knowrithm_common.crypto import UndecryptableSecret, hint
from knowrithm_common.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from knowrithm_common.events import Actor, EventEnvelope
from knowrithm_common.events.analytics import DeliverWebhook, WebhookChangedV1
from knowrithm_common.safehttp import FetchFailed, FetchRefused

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that marks a value as a webhook secret


class WebhookNotFound(NotFound):
    code, message = "webhook_not_found", "Webhook not found"


class DeliveryNotFound(NotFound):
    code, message = "delivery_not_found", "Webhook delivery not found"


class UrlNotAllowed(BadRequest):
    code, message = "url_not_allowed", "This address cannot receive webhooks"


class UrlNotResolvable(BadRequest):
    code, message = "url_not_resolvable", "The host of this address could not be found"


class WebhookLimitReached(Conflict):
    code, message = "webhook_limit_reached", "The company has as many webhooks as it may have"


class DeliveryNotFailed(Conflict):
    code, message = "delivery_not_failed", "Only a failed delivery can be retried"


class EventUnavailable(Conflict):
    code, message = "event_unavailable", "The event of this delivery is no longer kept"


class WebhookInactive(Conflict):
    code, message = "webhook_inactive", "The webhook is disabled; enable it first"


class EncryptionNotConfigured(ServiceUnavailable):
    code, message = "encryption_not_configured", "Webhook secrets need ENCRYPTION_KEY to be set"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def secret_hint(tools: WebhookTools, webhook: Webhook) -> str | None:
    """The secret's last characters, so a user can tell which one a receiver holds."""
    if tools.box is None:
        return None
    try:
        return hint(tools.box.decrypt(webhook.secret_encrypted))
    except UndecryptableSecret:
        return None


def _new_secret(tools: WebhookTools) -> tuple[str, str]:
    if tools.box is None:
        raise EncryptionNotConfigured()
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, tools.box.encrypt(secret)


async def _checked_url(tools: WebhookTools, url: str) -> str:
    """The URL if it is http(s) and every address of its host may receive (the SSRF guard)."""
    try:
        await tools.fetcher.check(url)
    except FetchRefused as exc:
        raise UrlNotAllowed(exc.reason) from exc
    except FetchFailed as exc:
        raise UrlNotResolvable(exc.reason) from exc
    return url.strip()


async def get_webhook(session: AsyncSession, webhook_id: uuid.UUID, company_id: uuid.UUID | None,
                      *, lock: bool = False) -> Webhook:
    """The company's webhook; 404 `webhook_not_found` for an unknown or another company's id."""
    webhook = await repo.get_webhook(session, webhook_id, company_id, lock=lock)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


async def _changed(
    session: AsyncSession, webhook: Webhook, change: str, actor: Actor, changed: Sequence[str] = ()
) -> None:
    """Publish `analytics.webhook.changed.v1` with the change (the audit log's record of it)."""
    data = WebhookChangedV1(
        webhook_id=webhook.id, change=change, url_host=urlsplit(webhook.url).hostname or "",
        event_types=list(webhook.event_types), is_active=webhook.is_active, changed=list(changed),
    )
    await outbox.add(session, data, company_id=webhook.company_id, actor=actor)


async def create_webhook(
    session: AsyncSession, tools: WebhookTools, *, company_id: uuid.UUID, body: WebhookCreate,
    created_by: uuid.UUID | None, actor: Actor,
) -> tuple[Webhook, str]:
    """Register a webhook; the secret is returned once, stored encrypted."""
    patterns = validate_patterns(body.event_types)
    url = await _checked_url(tools, body.url)
    limit = tools.settings.webhooks_per_company
    if await repo.count_webhooks(session, company_id) >= limit:
        raise WebhookLimitReached(f"A company may have {limit} webhooks; delete one first")
    secret, encrypted = _new_secret(tools)
    webhook = Webhook(
        id=uuid.uuid4(), company_id=company_id, url=url, description=body.description, event_types=patterns,
        secret_encrypted=encrypted, is_active=body.is_active, created_by=created_by,
        created_at=_now(), updated_at=_now(),
    )
    session.add(webhook)
    await session.flush()
    await _changed(session, webhook, "created", actor)
    return webhook, secret


async def update_webhook(
    session: AsyncSession, tools: WebhookTools, webhook: Webhook, body: WebhookUpdate, *, actor: Actor
) -> Webhook:
    """Change the URL, event types, description or active flag (only the fields given)."""
    fields = body.model_dump(exclude_unset=True)
    if fields.get("url") is not None:
        webhook.url = await _checked_url(tools, fields["url"])
    if fields.get("event_types") is not None:
        webhook.event_types = validate_patterns(fields["event_types"])
    if "description" in fields:
        webhook.description = fields["description"]
    if fields.get("is_active") is not None:
        webhook.is_active = fields["is_active"]
    webhook.updated_at = _now()
    await session.flush()
    await _changed(session, webhook, "updated", actor, sorted(fields))
    return webhook


async def delete_webhook(session: AsyncSession, webhook: Webhook, *, actor: Actor) -> None:
    """Delete a webhook: it receives nothing more; pending deliveries end `failed`."""
    webhook.deleted_at = webhook.updated_at = _now()
    await session.flush()
    await _changed(session, webhook, "deleted", actor)


async def rotate_secret(session: AsyncSession, tools: WebhookTools, webhook: Webhook, *, actor: Actor) -> str:
    """A new signing secret, used from the next attempt on; the old one stops at once."""
    secret, webhook.secret_encrypted = _new_secret(tools)
    webhook.updated_at = _now()
    await session.flush()
    await _changed(session, webhook, "secret_rotated", actor)
    return secret


async def get_delivery(session: AsyncSession, webhook: Webhook, delivery_id: uuid.UUID) -> WebhookDelivery:
    """The webhook's delivery; 404 `delivery_not_found` for any other id."""
    delivery = await repo.get_delivery(session, delivery_id, webhook_id=webhook.id)
    if delivery is None:
        raise DeliveryNotFound()
    return delivery


async def retry_delivery(session: AsyncSession, webhook: Webhook, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a failed delivery's event again (same event id and delivery id)."""
    delivery = await repo.get_delivery(session, delivery_id, webhook_id=webhook.id, lock=True)
    if delivery is None:
        raise DeliveryNotFound()
    if delivery.status != "failed":
        raise DeliveryNotFailed(f"The delivery is {delivery.status}; only a failed delivery can be retried")
    if not webhook.is_active:
        raise WebhookInactive()
    event = await repo.delivered_event(session, delivery.id)
    if event is None:
        raise EventUnavailable()
    delivery.status, delivery.completed_at = "pending", None
    job = DeliverWebhook(delivery_id=delivery.id, webhook_id=webhook.id, event=event)
    await outbox.add(session, job, company_id=webhook.company_id)
    await session.flush()
    return delivery


async def send_test(session: AsyncSession, webhook: Webhook, *, actor: Actor) -> WebhookDelivery:
    """Deliver a `webhook.test` ping to the webhook (whatever its event types)."""
    if not webhook.is_active:
        raise WebhookInactive()
    envelope = EventEnvelope(
        id=str(uuid7()), type=TEST_EVENT_TYPE, source=outbox.source, time=_now(),
        company_id=webhook.company_id, actor=actor,
        data={"webhook_id": str(webhook.id), "message": "A test delivery from Knowrithm."},
    )
    delivery_id = await enqueue(session, webhook, envelope)
    delivery = await repo.get_delivery(session, delivery_id) if delivery_id else None
    if delivery is None:  # cannot happen: a fresh event id has no delivery yet
        raise RuntimeError(f"test delivery of webhook {webhook.id} was not recorded")
    return delivery
