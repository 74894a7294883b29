"""What webhooks react to: every subscribable event (fanned out to the company's webhooks) and
the delivery jobs that POST them."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.models import shared
from knowrithm_analytics.webhooks.catalogue import subscribable
from knowrithm_analytics.webhooks.delivery import WebhookTools, deliver, fan_out_handler
from knowrithm_common.events.analytics import DeliverWebhook
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.messaging.jobs import JobWorker
from knowrithm_common.service import Background

# One durable for every analytics replica: JOBS is a work queue, a job goes to one of them.
DELIVERY_WORKER = "analytics-webhook-deliveries"


def subscribers(app: FastAPI) -> Sequence[Background]:
    """The fan-out consumer (new events only) and the delivery worker (`app.state.webhooks`' tools)."""
    settings = app.state.settings
    tools: WebhookTools = app.state.webhooks
    fan_out = EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable=settings.webhooks_consumer,
        filter_subject="events.>",
        handlers=dict.fromkeys((e.type for e in subscribable()), fan_out_handler(app.state.outbox_relay)),
        # A fresh install does not replay the stream's history to receivers.
        only_new=True,
        # It sees every event (messages too): one transaction per fetched batch, not per event.
        batch=256,
        transaction_per_batch=True,
    )
    worker = JobWorker(
        nats=app.state.nats,
        durable=DELIVERY_WORKER,
        filter_subject="jobs.analytics.webhook.>",
        handlers={DeliverWebhook.event_type: functools.partial(deliver, tools)},
        concurrency=settings.webhook_concurrency,
        max_deliver=settings.webhook_max_attempts,
        backoff=settings.webhook_backoff,
        ack_wait=max(30.0, 3 * settings.webhook_timeout_seconds),
    )
    app.state.webhook_fan_out, app.state.webhook_worker = fan_out, worker
    return [fan_out, worker]
