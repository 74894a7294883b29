"""HANDLERS: one handler per event type, keeping every projection and the audit trail.

A handler runs inside the consumer's transaction (one per event, or one per batch in the
batched consumer and the rebuild) and is idempotent on its own: rows are keyed by the ids of
what they describe, facts are inserted once and states replaced only by newer events (see
upserts.py), so a redelivered or replayed event changes nothing, with or without the
processed-events record.
Every event type of the catalogue gets a handler; those with no projection of their own
(e.g. `agents.settings.changed.v1`) still become audit entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.projections import (
    agents,
    api_requests,
    audit,
    conversations,
    databases,
    documents,
    identity,
)
from knowrithm_analytics.projections.audit import audit_domain_event, is_audited
from knowrithm_analytics.projections.metrics import observe_applied
from knowrithm_common.events import EventEnvelope, registered_events
from knowrithm_common.events.ingestion import JobData
from knowrithm_common.messaging.consumer import Handler

PROJECTORS: Mapping[str, Handler] = {
    event_type: handler
    for module in (identity, audit, agents, conversations, documents, databases, api_requests)
    for event_type, handler in module.projections.handlers.items()
}
"""The projection of each event type that has one (audit entries are added by `handler_for`)."""


def handler_for(event_type: str) -> Handler | None:
    """The projection and audit entry of one event type, counted once its transaction commits."""
    project = PROJECTORS.get(event_type)
    audited = is_audited(event_type)
    if project is None and not audited:
        return None

    async def handle(session: AsyncSession, event: EventEnvelope) -> None:
        if project is not None:
            await project(session, event)
        if audited:
            await audit_domain_event(session, event)
        observe_applied(session, event)

    handle.__name__ = handle.__qualname__ = f"handle_{event_type.replace('.', '_')}"
    return handle


def _event_types() -> list[str]:
    """Every event (not job) type of the catalogue."""
    return sorted(t for t, cls in registered_events().items() if not issubclass(cls, JobData))


HANDLERS: dict[str, Handler] = {
    event_type: handler for event_type in _event_types() if (handler := handler_for(event_type)) is not None
}
