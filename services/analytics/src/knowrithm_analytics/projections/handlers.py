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

from knowrithm_analytics.projections import agents, api_requests, conversations, documents, identity
from knowrithm_analytics.projections.audit import audit_domain_event, audit_recorded, is_audited
from knowrithm_analytics.projections.metrics import observe_applied
from knowrithm_common.events import EventEnvelope, registered_events
from knowrithm_common.events.agents import AgentCreatedV1, AgentDeletedV1, AgentRestoredV1, AgentUpdatedV1
from knowrithm_common.events.auth import (
    ApiKeyCreatedV1,
    ApiKeyRevokedV1,
    AuditRecordedV1,
    CompanyCreatedV1,
    CompanyDeletedV1,
    CompanyRestoredV1,
    CompanyUpdatedV1,
    UserRegisteredV1,
    UserUpdatedV1,
)
from knowrithm_common.events.conversations import (
    ConversationCreatedV1,
    ConversationDeletedV1,
    ConversationRestoredV1,
    FeedbackGivenV1,
    LeadConvertedV1,
    LeadDeletedV1,
    LeadRegisteredV1,
    LeadUpdatedV1,
    MessageCreatedV1,
)
from knowrithm_common.events.gateway import ApiRequestsRecordedV1
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentFailedV1,
    DocumentProcessedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
    JobData,
)
from knowrithm_common.messaging.consumer import Handler

PROJECTORS: Mapping[str, Handler] = {
    CompanyCreatedV1.event_type: identity.company_created,
    CompanyUpdatedV1.event_type: identity.company_updated,
    CompanyDeletedV1.event_type: identity.company_deleted,
    CompanyRestoredV1.event_type: identity.company_restored,
    UserRegisteredV1.event_type: identity.user_registered,
    UserUpdatedV1.event_type: identity.user_updated,
    ApiKeyCreatedV1.event_type: identity.api_key_created,
    ApiKeyRevokedV1.event_type: identity.api_key_revoked,
    AuditRecordedV1.event_type: audit_recorded,
    AgentCreatedV1.event_type: agents.agent_changed,
    AgentUpdatedV1.event_type: agents.agent_changed,
    AgentDeletedV1.event_type: agents.agent_changed,
    AgentRestoredV1.event_type: agents.agent_changed,
    ConversationCreatedV1.event_type: conversations.conversation_created,
    ConversationDeletedV1.event_type: conversations.conversation_deleted,
    ConversationRestoredV1.event_type: conversations.conversation_restored,
    MessageCreatedV1.event_type: conversations.message_created,
    LeadRegisteredV1.event_type: conversations.lead_registered,
    LeadUpdatedV1.event_type: conversations.lead_updated,
    LeadConvertedV1.event_type: conversations.lead_converted,
    LeadDeletedV1.event_type: conversations.lead_deleted,
    FeedbackGivenV1.event_type: conversations.feedback_given,
    DocumentUploadedV1.event_type: documents.document_uploaded,
    DocumentProcessedV1.event_type: documents.document_processed,
    DocumentFailedV1.event_type: documents.document_failed,
    DocumentDeletedV1.event_type: documents.document_deleted,
    DocumentRestoredV1.event_type: documents.document_restored,
    ApiRequestsRecordedV1.event_type: api_requests.api_requests_recorded,
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
