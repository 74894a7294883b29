"""Events of the analytics service (webhook changes), and the jobs it runs on the JOBS work queue
(webhook deliveries, exports)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from pydantic import Field

from knowrithm_common.events.envelope import EventData
from knowrithm_common.events.ingestion import JobData


class DeliverWebhook(JobData):
    """POST one event to one webhook, signed; retried with backoff until it succeeds or gives up."""

    event_type: ClassVar[str] = "analytics.webhook.deliver.v1"

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    event: dict[str, Any] = Field(description="the event envelope, as published on EVENTS")


class ExportData(JobData):
    """Write a large export (conversations, leads, agents or usage; CSV or JSON) for download."""

    event_type: ClassVar[str] = "analytics.export.run.v1"

    task_id: uuid.UUID
    export_type: str
    format: str
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None


class WebhookChangedV1(EventData):
    """A company's webhook was created, changed, deleted or given a new signing secret.

    Neither the secret nor the full URL travels (receiver URLs often embed a token): the host
    is enough for the audit log to say where events go.
    """

    event_type: ClassVar[str] = "analytics.webhook.changed.v1"

    webhook_id: uuid.UUID
    change: str = Field(description="created | updated | deleted | secret_rotated")
    url_host: str
    event_types: list[str]
    is_active: bool
    changed: list[str] = Field(default_factory=list, description="the fields an update changed")
