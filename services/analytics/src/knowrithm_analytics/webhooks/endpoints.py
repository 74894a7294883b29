"""HTTP API of webhooks: a company's admins register URLs that receive chosen events, signed.

Admins (API keys with the method's scope; `admin` to rotate a secret) manage their company's
webhooks; super admins name the company with `?company_id=`. Another company's ids answer 404
`webhook_not_found`. Any member may read the catalogue of event types.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from knowrithm_analytics.models import Webhook
from knowrithm_analytics.webhooks import repository as repo
from knowrithm_analytics.webhooks import service
from knowrithm_analytics.webhooks.catalogue import subscribable
from knowrithm_analytics.webhooks.delivery import WebhookTools
from knowrithm_analytics.webhooks.schemas import (
    Deleted,
    DeliveryAccepted,
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
    EventTypeList,
    EventTypeOut,
    WebhookCreate,
    WebhookList,
    WebhookOne,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.events.asyncapi import INTERNAL_EVENTS
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.tenancy import (
    MEMBERS,
    CompanyAdmin,
    CompanyAdminRead,
    CompanyDelete,
    CompanyUpdate,
    CompanyWrite,
    Subject,
    subject_dependency,
)

router = APIRouter(tags=["Webhooks"])
PREFIX = "/api/v1/webhook"
# A member, for the catalogue: the same for every company (no `?company_id=`).
Member = Annotated[Subject, Depends(subject_dependency(MEMBERS, "read", company_query=False))]


def get_tools(request: Request) -> WebhookTools:
    tools: WebhookTools = request.app.state.webhooks
    return tools


Tools = Annotated[WebhookTools, Depends(get_tools)]


def _out(tools: WebhookTools, webhook: Webhook) -> WebhookOut:
    return WebhookOut.of(webhook, secret_hint=service.secret_hint(tools, webhook))


@router.get(f"{PREFIX}/event-types", response_model=EventTypeList)
async def event_types(subject: Member) -> EventTypeList:
    """The events a webhook can subscribe to, with the JSON schema of each one's `data`."""
    return EventTypeList(
        event_types=[
            EventTypeOut(type=e.type, subject=e.subject, source=e.source, description=e.description,
                         payload_schema=e.payload_schema())
            for e in subscribable()
        ],
        not_subscribable=dict(INTERNAL_EVENTS),
    )


@router.post(PREFIX, status_code=201, response_model=WebhookWithSecret, responses=errors(404, 409))
async def create_webhook(
    subject: CompanyWrite, body: WebhookCreate, session: Session, tools: Tools
) -> WebhookWithSecret:
    """Register a webhook; the signing secret is in this answer only (admin)."""
    webhook, secret = await service.create_webhook(
        session, tools, company_id=subject.company, body=body, created_by=subject.principal.user_id,
        actor=subject.actor,
    )
    return WebhookWithSecret(webhook=_out(tools, webhook), secret=secret)


@router.get(PREFIX, response_model=WebhookList, responses=errors(404))
async def list_webhooks(subject: CompanyAdminRead, session: Session, tools: Tools) -> WebhookList:
    """The company's webhooks, oldest first (admin)."""
    webhooks = await repo.list_webhooks(session, subject.company_id)
    return WebhookList(webhooks=[_out(tools, w) for w in webhooks], total=len(webhooks))


@router.get(f"{PREFIX}/{{webhook_id}}", response_model=WebhookOne)
async def get_webhook(
    subject: CompanyAdminRead, webhook_id: uuid.UUID, session: Session, tools: Tools
) -> WebhookOne:
    """One webhook (admin)."""
    return WebhookOne(webhook=_out(tools, await service.get_webhook(session, webhook_id, subject.company_id)))


@router.patch(f"{PREFIX}/{{webhook_id}}", response_model=WebhookOne)
async def update_webhook(
    subject: CompanyUpdate, webhook_id: uuid.UUID, body: WebhookUpdate, session: Session, tools: Tools
) -> WebhookOne:
    """Change a webhook's URL, event types, description or whether it is active (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id, lock=True)
    updated = await service.update_webhook(session, tools, webhook, body, actor=subject.actor)
    return WebhookOne(webhook=_out(tools, updated))


@router.delete(f"{PREFIX}/{{webhook_id}}", response_model=Deleted)
async def delete_webhook(subject: CompanyDelete, webhook_id: uuid.UUID, session: Session) -> Deleted:
    """Delete a webhook; nothing more is delivered to it (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id, lock=True)
    await service.delete_webhook(session, webhook, actor=subject.actor)
    return Deleted(message="Webhook deleted")


@router.post(f"{PREFIX}/{{webhook_id}}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_secret(
    subject: CompanyAdmin, webhook_id: uuid.UUID, session: Session, tools: Tools
) -> WebhookWithSecret:
    """Replace the signing secret; the new one is in this answer only (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id, lock=True)
    secret = await service.rotate_secret(session, tools, webhook, actor=subject.actor)
    return WebhookWithSecret(webhook=_out(tools, webhook), secret=secret)


@router.get(f"{PREFIX}/{{webhook_id}}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    subject: CompanyAdminRead, webhook_id: uuid.UUID, session: Session, page: Page,
    status: DeliveryStatus | None = Query(None, description="only deliveries in this state"),
    event_id: str | None = Query(None, max_length=36, description="only the delivery of this event"),
) -> DeliveryList:
    """The webhook's delivery log, newest first: attempts, last answer or error (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id)
    rows, pagination = await repo.list_deliveries(
        session, webhook.id, status=status.value if status else None, event_id=event_id, page=page
    )
    return DeliveryList(deliveries=[DeliveryOut.of(d) for d in rows], pagination=pagination)


@router.get(f"{PREFIX}/{{webhook_id}}/deliveries/{{delivery_id}}", response_model=DeliveryDetail,
            responses=errors(404))
async def get_delivery(
    subject: CompanyAdminRead, webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: Session
) -> DeliveryDetail:
    """One delivery: the exact signed request of its last attempt and the receiver's answer (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id)
    return DeliveryDetail.of(await service.get_delivery(session, webhook, delivery_id))


@router.post(f"{PREFIX}/{{webhook_id}}/deliveries/{{delivery_id}}/retry", status_code=202,
             response_model=DeliveryAccepted, responses=errors(409))
async def retry_delivery(
    subject: CompanyWrite, webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: Session
) -> DeliveryAccepted:
    """Send a failed delivery's event again, with a fresh round of attempts (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id)
    delivery = await service.retry_delivery(session, webhook, delivery_id)
    return DeliveryAccepted(message="Delivery queued again.", delivery_id=delivery.id,
                            delivery=DeliveryOut.of(delivery))


@router.post(f"{PREFIX}/{{webhook_id}}/test", status_code=202, response_model=DeliveryAccepted,
             responses=errors(409))
async def test_webhook(subject: CompanyWrite, webhook_id: uuid.UUID, session: Session) -> DeliveryAccepted:
    """Deliver a signed `webhook.test` ping; follow it in the delivery log (admin)."""
    webhook = await service.get_webhook(session, webhook_id, subject.company_id)
    delivery = await service.send_test(session, webhook, actor=subject.actor)
    return DeliveryAccepted(message="Test delivery queued.", delivery_id=delivery.id,
                            delivery=DeliveryOut.of(delivery))
