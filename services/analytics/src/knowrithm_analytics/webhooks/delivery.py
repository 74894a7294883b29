"""Delivering events to webhooks: fan-out from the EVENTS stream, then one job per delivery.

Fan-out runs in the webhooks consumer's transaction: for each subscribed webhook of the event's
company it inserts a `webhook_deliveries` row (once per webhook and event) and, for a new row
only, a `DeliverWebhook` job through the outbox, so a redelivered event enqueues nothing twice.

A job POSTs the envelope, signed, to the webhook's URL through the SSRF guard (checked again
at every attempt: DNS may have changed). 2xx is success; anything else is recorded on the
delivery and raised, so the JobWorker retries with `ANALYTICS_WEBHOOK_BACKOFF_SECONDS` up to
`ANALYTICS_WEBHOOK_MAX_ATTEMPTS`; the last attempt marks the delivery `failed` instead. No
database connection is held while the receiver answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.models import Webhook, WebhookDelivery, outbox
from knowrithm_analytics.webhooks import repository as repo
from knowrithm_analytics.webhooks.catalogue import matches
from knowrithm_common.crypto import SecretBox, UndecryptableSecret
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.analytics import DeliverWebhook
from knowrithm_common.messaging.consumer import Handler
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.messaging.outbox import OutboxRelay
from knowrithm_common.safehttp import FetchFailed, FetchRefused, PostResult, SafeFetcher

logger = logging.getLogger(__name__)

USER_AGENT = "Knowrithm-Webhooks/1.0"
SIGNATURE_HEADER = "X-Knowrithm-Signature"
RESPONSE_BYTES = 4096  # of a receiver's answer: enough for an error message in the log
DISABLED = "webhook disabled"
# Each finished attempt is also announced on core NATS (no stream: nothing is kept) under
# `<LIVE_DELIVERIES>.<company_id>`, for the live event inspector of whichever process serves it.
LIVE_DELIVERIES = "live.webhook-delivery"

DELIVERIES = Counter(
    "knowrithm_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: succeeded, retried (failed, another attempt follows), failed",
    ["outcome"],
)
DELIVERY_SECONDS = Histogram(
    "knowrithm_webhook_delivery_seconds",
    "Time of one webhook delivery attempt, from resolving the host to the receiver's answer",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class DeliveryFailed(Exception):
    """An attempt failed and another one follows (the JobWorker retries with backoff)."""


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass
class WebhookTools:
    """What the webhook API and the delivery worker share (built in the lifespan)."""

    db: Database
    fetcher: SafeFetcher
    box: SecretBox | None  # None without ENCRYPTION_KEY: webhooks cannot be created then
    settings: AnalyticsSettings
    # Told of each finished attempt (`delivery_summary`); set by the live event stream.
    announce: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    @classmethod
    def build(cls, db: Database, settings: AnalyticsSettings) -> WebhookTools:
        key = settings.encryption_key.get_secret_value()
        fetcher = SafeFetcher(
            allowlist=settings.webhook_allowed, timeout=settings.webhook_timeout_seconds,
            max_redirects=0, user_agent=USER_AGENT, purpose="sending webhooks to it",
        )
        return cls(db=db, fetcher=fetcher, box=SecretBox(key) if key.strip() else None, settings=settings)


async def open_webhook_tools(app: FastAPI) -> None:
    """Lifespan hook: the tools the webhook API and the delivery worker share (`app.state.webhooks`)."""
    app.state.webhooks = WebhookTools.build(app.state.db, app.state.settings)


async def close_webhook_tools(app: FastAPI) -> None:
    """Lifespan shutdown hook (after the delivery worker stopped): close the pooled connections."""
    await app.state.webhooks.fetcher.aclose()


# --- fan-out --------------------------------------------------------------------------------


# What a receiver outside the platform is not told: who was where (the actor's address and
# browser, a super admin impersonating), and our own trace ids.
PRIVATE_FIELDS: dict[str, Any] = {"traceparent": True, "actor": {"ip", "user_agent", "impersonator_id"}}


def outgoing(envelope: EventEnvelope) -> dict[str, Any]:
    """The envelope as a receiver gets it: everything but PRIVATE_FIELDS."""
    return envelope.model_dump(mode="json", exclude=PRIVATE_FIELDS)


async def enqueue(
    session: AsyncSession, webhook: Webhook, envelope: EventEnvelope, *, relay: OutboxRelay | None = None
) -> uuid.UUID | None:
    """A delivery of `envelope` to `webhook` and its job (in the caller's transaction); None if known."""
    sent = outgoing(envelope)
    delivery_id = await repo.insert_delivery(session, webhook=webhook, event_id=envelope.id,
                                             event_type=envelope.type, event=sent)
    if delivery_id is None:
        return None
    job = DeliverWebhook(delivery_id=delivery_id, webhook_id=webhook.id, event=sent)
    await outbox.add(session, job, company_id=webhook.company_id)
    if relay is not None:  # consumer sessions do not wake the relay on commit by themselves
        event.listen(session.sync_session, "after_commit", lambda _: relay.wake(), once=True)
    return delivery_id


def fan_out_handler(relay: OutboxRelay | None) -> Handler:
    """The consumer handler: enqueue the event for every subscribed webhook of its company."""

    async def fan_out(session: AsyncSession, envelope: EventEnvelope) -> None:
        if envelope.company_id is None:
            return
        for webhook in await repo.active_webhooks(session, envelope.company_id):
            if matches(webhook.event_types, envelope.type):
                await enqueue(session, webhook, envelope, relay=relay)

    return fan_out


# --- one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One attempt's request as sent and the receiver's answer (as much of it as is kept)."""

    headers: dict[str, str]
    body: str
    response_headers: dict[str, str] | None = None
    response_body: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    status_code: int | None
    error: str | None
    sent: Sent | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def deliver(tools: WebhookTools, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Job handler: POST the event once; record the outcome; raise to be retried."""
    job = DeliverWebhook.model_validate(envelope.data)
    target = await _target(tools, job)
    if target is None:
        return
    attempt = await _post(tools, job, *target) if isinstance(target, tuple) else target
    final = ctx.final_attempt and not attempt.ok
    outcome = "succeeded" if attempt.ok else "failed" if final else "retried"
    retry_in = tools.settings.webhook_backoff[min(ctx.attempt - 1, len(tools.settings.webhook_backoff) - 1)]
    summary = await _record(tools.db, job.delivery_id, attempt, outcome=outcome, retry_in=retry_in)
    DELIVERIES.labels(outcome).inc()
    if summary is not None and tools.announce is not None:
        await tools.announce(summary)
    if outcome == "retried":
        # The log gets the status only: receiver URLs and answers can carry tokens; the
        # delivery log (the company's own) keeps the whole error.
        raise DeliveryFailed(f"attempt failed (HTTP status {attempt.status_code})" if attempt.status_code
                             else "attempt failed without an answer")


async def _target(tools: WebhookTools, job: DeliverWebhook) -> tuple[str, str] | Attempt | None:
    """(url, secret) to POST to; an Attempt that failed without a request; None: nothing to do."""
    async with tools.db.sessions() as session, session.begin():
        delivery = await repo.get_delivery(session, job.delivery_id, lock=True)
        if delivery is None or delivery.status != "pending":
            return None  # delivered already (a redelivered job), or given up
        webhook = await repo.get_webhook_any(session, job.webhook_id)
        if webhook is None or webhook.deleted_at is not None or not webhook.is_active:
            _finish(delivery, Attempt(None, DISABLED), status="failed", attempted=False)
            DELIVERIES.labels("failed").inc()
            return None
        try:
            if tools.box is None:
                raise UndecryptableSecret("ENCRYPTION_KEY is not set")
            return webhook.url, tools.box.decrypt(webhook.secret_encrypted)
        except UndecryptableSecret:
            logger.error("webhook %s: signing secret cannot be decrypted", webhook.id)
            return Attempt(None, "the signing secret cannot be decrypted (ENCRYPTION_KEY changed?)")


async def _post(tools: WebhookTools, job: DeliverWebhook, url: str, secret: str) -> Attempt:
    body = json.dumps(job.event, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Knowrithm-Event-Type": str(job.event.get("type", "")),
        "X-Knowrithm-Event-Id": str(job.event.get("id", "")),
        "X-Knowrithm-Delivery-Id": str(job.delivery_id),
        SIGNATURE_HEADER: sign(secret, body, timestamp=int(time.time())),
    }
    sent = Sent(headers=headers, body=body.decode())
    started = time.perf_counter()
    try:
        result = await tools.fetcher.post(
            url, content=body, headers=headers, max_response_bytes=RESPONSE_BYTES
        )
    except (FetchRefused, FetchFailed) as exc:
        return Attempt(None, exc.reason, sent)
    finally:
        DELIVERY_SECONDS.observe(time.perf_counter() - started)
    answered = Sent(headers=headers, body=sent.body, response_headers=dict(result.headers),
                    response_body=result.content.decode("utf-8", errors="replace"))
    return Attempt(result.status, None if result.ok else _http_error(result), answered)


def _http_error(result: PostResult) -> str:
    text = f"HTTP {result.status} {result.reason}".rstrip()
    answer = " ".join(result.content[:300].decode("utf-8", errors="replace").split())
    return f"{text}: {answer}" if answer else text


async def _record(
    db: Database, delivery_id: uuid.UUID, attempt: Attempt, *, outcome: str, retry_in: float
) -> dict[str, Any] | None:
    """Write the attempt's outcome; the delivery as the live inspector shows it (None: gone)."""
    async with db.sessions() as session, session.begin():
        delivery = await repo.get_delivery(session, delivery_id, lock=True)
        if delivery is None:
            return None
        status = "pending" if outcome == "retried" else outcome  # pending: another attempt follows
        _finish(delivery, attempt, status=status, attempted=True)
        if status == "pending":  # when the JobWorker's backoff brings the next attempt
            delivery.next_attempt_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_in)
        return delivery_summary(delivery)


def delivery_summary(delivery: WebhookDelivery) -> dict[str, Any]:
    """One attempt's outcome as the live inspector shows it (no payload, no receiver's answer)."""
    at = delivery.last_attempt_at
    return {
        "id": str(delivery.id), "webhook_id": str(delivery.webhook_id),
        "company_id": str(delivery.company_id),
        "event_id": delivery.event_id, "event_type": delivery.event_type, "status": delivery.status,
        "attempts": delivery.attempts, "status_code": delivery.last_status_code,
        "time": at.isoformat() if at is not None else None,
    }


def _finish(delivery: WebhookDelivery, attempt: Attempt, *, status: str, attempted: bool) -> None:
    now = dt.datetime.now(dt.UTC)
    if attempted:
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = attempt.status_code
    delivery.last_error = attempt.error
    delivery.status = status
    delivery.completed_at = now if status != "pending" else None
    delivery.next_attempt_at = None
    if attempt.sent is not None:
        delivery.request_headers, delivery.request_body = attempt.sent.headers, attempt.sent.body
        delivery.response_headers = attempt.sent.response_headers
        delivery.response_body = attempt.sent.response_body
