"""Prometheus metrics of the projections.

In the consumer path: `knowrithm_analytics_events_projected_total{type}` and
`knowrithm_analytics_projection_lag_seconds` (now - event time, when its transaction
commits). Business gauges (`knowrithm_business_*`) are recomputed from the projections every
`business_metrics_refresh_seconds`, platform-wide only: a company label would make one time
series per tenant. Every analytics replica exports the same values: aggregate them with
`max` (not `sum`) across instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from knowrithm_analytics.projections.repository import BusinessNumbers, business_numbers
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.messaging.connection import stop_task

logger = logging.getLogger(__name__)

EVENTS_PROJECTED = Counter(
    "knowrithm_analytics_events_projected_total", "Events applied to the projections (committed)", ["type"]
)
PROJECTION_LAG = Histogram(
    "knowrithm_analytics_projection_lag_seconds",
    "Time from an event to its projection's commit",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

_APPLIED = "knowrithm.analytics.applied"


def _count_committed(sync_session: Session) -> None:
    now = time.time()
    for event_type, at in sync_session.info.pop(_APPLIED, ()):
        EVENTS_PROJECTED.labels(event_type).inc()
        PROJECTION_LAG.observe(max(0.0, now - at))


def _forget(sync_session: Session) -> None:
    sync_session.info.pop(_APPLIED, None)


def observe_applied(session: AsyncSession, event: EventEnvelope) -> None:
    """Count `event` as projected once the session's transaction commits (never after a rollback)."""
    pending = session.info.get(_APPLIED)
    if pending is None:
        pending = session.info[_APPLIED] = []
        if not sa_event.contains(session.sync_session, "after_commit", _count_committed):
            sa_event.listen(session.sync_session, "after_commit", _count_committed)
            sa_event.listen(session.sync_session, "after_rollback", _forget)
    pending.append((event.type, event.time.timestamp()))


# --- business gauges -------------------------------------------------------------------------

COMPANIES = Gauge("knowrithm_business_companies", "Companies signed up and not deleted")
USERS = Gauge("knowrithm_business_users", "Users not deleted, of companies not deleted")
AGENTS = Gauge("knowrithm_business_agents", "Agents not deleted, by status", ["status"])
CONVERSATIONS = Gauge("knowrithm_business_conversations", "Conversations not deleted")
MESSAGES = Gauge("knowrithm_business_messages", "Messages ever stored, by role", ["role"])
TOKENS = Gauge("knowrithm_business_tokens", "LLM tokens of every message, by direction", ["direction"])
LEADS = Gauge("knowrithm_business_leads", "Leads not deleted, by status", ["status"])
LEAD_CONVERSIONS = Gauge("knowrithm_business_lead_conversions", "Leads ever converted")
FEEDBACK = Gauge(
    "knowrithm_business_feedback", "Feedback given, by kind (rating, thumbs_up, thumbs_down)", ["kind"]
)
RATING = Gauge(
    "knowrithm_business_feedback_rating_average", "Average rating (1-5) of rated feedback; 0 if none"
)
DOCUMENTS = Gauge("knowrithm_business_documents", "Documents not deleted, by status", ["status"])
API_REQUESTS = Gauge(
    "knowrithm_business_api_requests_24h",
    "API requests through the gateway in the last 24 hours, by outcome",
    ["outcome"],
)
REFRESHED = Gauge(
    "knowrithm_business_refresh_timestamp_seconds", "When the business gauges were last computed"
)

# Label values exported even at zero, so a dashboard's series exist from the start.
KNOWN_LABELS: dict[Gauge, tuple[str, ...]] = {
    MESSAGES: ("user", "assistant"),
    TOKENS: ("input", "output"),
    LEADS: ("new", "contacted", "qualified", "converted", "lost"),
    FEEDBACK: ("rating", "thumbs_up", "thumbs_down"),
    DOCUMENTS: ("pending", "processing", "processed", "failed"),
    API_REQUESTS: ("success", "client_error", "server_error", "rate_limited"),
}


class BusinessMetrics:
    """Recomputes the business gauges from the projections every `refresh_seconds`."""

    def __init__(self, db: Database, *, refresh_seconds: float) -> None:
        self.db, self.refresh_seconds = db, refresh_seconds
        self._seen: dict[Gauge, set[str]] = {gauge: set(labels) for gauge, labels in KNOWN_LABELS.items()}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="business-metrics")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await stop_task(self._task)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except Exception:
                logger.exception("business metrics could not be computed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.refresh_seconds)

    async def refresh(self) -> None:
        """Compute every number in one transaction, then set the gauges."""
        async with self.db.sessions() as session, session.begin():
            numbers = await business_numbers(session, now=dt.datetime.now(dt.UTC))
        self._export(numbers)

    def _export(self, numbers: BusinessNumbers) -> None:
        COMPANIES.set(numbers.companies)
        USERS.set(numbers.users)
        CONVERSATIONS.set(numbers.conversations)
        LEAD_CONVERSIONS.set(numbers.lead_conversions)
        RATING.set(numbers.rating_average)
        for gauge, values in (
            (AGENTS, numbers.agents),
            (MESSAGES, numbers.messages),
            (TOKENS, numbers.tokens),
            (LEADS, numbers.leads),
            (FEEDBACK, numbers.feedback),
            (DOCUMENTS, numbers.documents),
            (API_REQUESTS, numbers.api_requests_24h),
        ):
            self._set_labelled(gauge, values)
        REFRESHED.set(time.time())

    def _set_labelled(self, gauge: Gauge, values: dict[str, int]) -> None:
        # A label value seen once stays exported (at 0 when it has no rows any more).
        seen = self._seen.setdefault(gauge, set())
        seen.update(values)
        for label in seen:
            gauge.labels(label).set(values.get(label, 0))
