"""Requests and responses of the webhook API."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from knowrithm_analytics.models import Webhook, WebhookDelivery
from knowrithm_common.pagination import Pagination

EventTypes = Field(
    min_length=1,
    max_length=100,
    description="event types from GET /api/v1/webhook/event-types, `prefix.*` patterns, or `*`",
    examples=[["conversations.lead.registered.v1", "conversations.lead.*"]],
)


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2000, description="http(s) address that receives the POSTs")
    event_types: list[str] = EventTypes
    description: str | None = Field(None, max_length=500)
    is_active: bool = True


class WebhookUpdate(BaseModel):
    url: str | None = Field(None, max_length=2000)
    event_types: list[str] | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = None


class WebhookOut(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    is_active: bool
    secret_hint: str | None = Field(description="the last characters of the signing secret")
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, webhook: Webhook, *, secret_hint: str | None) -> WebhookOut:
        return cls(
            id=webhook.id, company_id=webhook.company_id, url=webhook.url, description=webhook.description,
            event_types=list(webhook.event_types), is_active=webhook.is_active, secret_hint=secret_hint,
            created_by=webhook.created_by, created_at=webhook.created_at, updated_at=webhook.updated_at,
        )


class WebhookOne(BaseModel):
    webhook: WebhookOut


class WebhookWithSecret(BaseModel):
    webhook: WebhookOut
    secret: str = Field(description="the signing secret; shown only now (and on rotation)")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    total: int


class Deleted(BaseModel):
    success: bool = True
    message: str


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    completed_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = Field(None, description="when the next automatic attempt is due")

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id, webhook_id=delivery.webhook_id, event_id=delivery.event_id,
            event_type=delivery.event_type, status=DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code, last_error=delivery.last_error,
            created_at=delivery.created_at, last_attempt_at=delivery.last_attempt_at,
            completed_at=delivery.completed_at, next_attempt_at=delivery.next_attempt_at,
        )


class SentRequest(BaseModel):
    headers: dict[str, str] = Field(description="the headers sent, the signature header among them")
    body: str = Field(description="the exact body that was signed and sent")


class ReceiverAnswer(BaseModel):
    status_code: int | None
    headers: dict[str, str] | None
    body: str | None = Field(description="the first 4 KiB of the receiver's body")


class DeliveryDetail(BaseModel):
    delivery: DeliveryOut
    event: dict[str, Any] | None = Field(description="the envelope delivered, as the receiver gets it")
    request: SentRequest | None = Field(description="the last attempt as sent; null before the first")
    response: ReceiverAnswer | None = Field(description="the receiver's answer; null without one")

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryDetail:
        sent = None
        if delivery.request_headers is not None and delivery.request_body is not None:
            sent = SentRequest(headers=delivery.request_headers, body=delivery.request_body)
        answer = None
        if delivery.response_headers is not None or delivery.last_status_code is not None:
            answer = ReceiverAnswer(status_code=delivery.last_status_code, headers=delivery.response_headers,
                                    body=delivery.response_body)
        return cls(delivery=DeliveryOut.of(delivery), event=delivery.event, request=sent, response=answer)


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    pagination: Pagination


class DeliveryAccepted(BaseModel):
    status: str = "accepted"
    message: str
    delivery_id: uuid.UUID
    delivery: DeliveryOut


class EventTypeOut(BaseModel):
    type: str
    subject: str = Field(description="the NATS subject it is published on inside the platform")
    source: str = Field(description="the service that publishes it")
    description: str
    payload_schema: dict[str, Any] = Field(description="JSON schema of the envelope's `data`")


class EventTypeList(BaseModel):
    event_types: list[EventTypeOut]
    not_subscribable: dict[str, str] = Field(description="catalogued events webhooks cannot receive, and why")
