"""Lead use cases: public registration (a new lead, its conversation and its lead token),
the company's CRUD and statuses, and GDPR export and erasure.

Email and phone are stored encrypted (Fernet, ENCRYPTION_KEY); `email_hash` is an HMAC of the
lower-cased email and the company id, keyed from ENCRYPTION_KEY, so an admin can find a lead
by exact email without the database ever holding it in clear. Registration always makes a new
lead: knowing someone's email must never lead to their conversations.

Services flush, never commit; events go to the outbox in the same transaction, and what lives
outside the database (revoking a lead token in Redis, dropping chat history) runs after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.crypto import SecretBox, UndecryptableSecret
from knowrithm_common.db import after_commit
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import (
    AgentNotAvailable,
    NotFound,
    OriginNotAllowed,
    ServiceUnavailable,
    ValidationFailed,
)
from knowrithm_common.events import Actor
from knowrithm_common.events.conversations import (
    LeadConvertedV1,
    LeadDeletedV1,
    LeadRegisteredV1,
    LeadUpdatedV1,
)
from knowrithm_common.identity import Principal, Role
from knowrithm_common.leadtokens import LeadTokenClaims, LeadTokenSigner
from knowrithm_common.origins import origin_listed
from knowrithm_common.pagination import PageParams, Pagination
from knowrithm_common.queries import AgentsOwner
from knowrithm_common.tenancy import Subject
from knowrithm_common.tokens import REVOKED_JTI_KEY
from knowrithm_conversations.agents.view import get_agent, visitor_agent
from knowrithm_conversations.chat.history import History
from knowrithm_conversations.config import ConversationsSettings
from knowrithm_conversations.conversations import service as conversations
from knowrithm_conversations.conversations.filters import Period
from knowrithm_conversations.conversations.repository import agents_by_id
from knowrithm_conversations.conversations.schemas import ConversationOut, MessageOut, NewConversation
from knowrithm_conversations.feedback.service import FeedbackOut
from knowrithm_conversations.leads import repository as repo
from knowrithm_conversations.leads.schemas import (
    ExportedConversation,
    LeadChanges,
    LeadExport,
    LeadOut,
    LeadRegistration,
    NewLead,
)
from knowrithm_conversations.models import AgentView, Conversation, Lead, LeadStatus, outbox

logger = logging.getLogger(__name__)
_REVOCATION_MARGIN_SECONDS = 60  # the gateway's leeway on expiry, and clock skew


class LeadNotFound(NotFound):
    code, message = "lead_not_found", "Lead not found"


class ConsentRequired(ValidationFailed):
    code = "consent_required"
    message = "Agree to the processing of your details (consent_data_processing: true) to start the chat"


class LeadsNotConfigured(ServiceUnavailable):
    code = "leads_not_configured"
    message = (
        "Leads are not set up on this server: it needs ENCRYPTION_KEY and KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY"
    )


@dataclass(frozen=True)
class LeadTools:
    """What lead use cases need besides the session: encryption, the token signer, Redis."""

    box: SecretBox
    hash_keys: tuple[bytes, ...]  # one per ENCRYPTION_KEY, newest first
    signer: LeadTokenSigner | None
    redis: Redis
    history: History | None

    def seal(self, value: str | None) -> str | None:
        return self.box.encrypt(value) if value else None

    def open(self, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return self.box.decrypt(value)
        except UndecryptableSecret:
            logger.warning("a lead's stored value cannot be decrypted with the configured ENCRYPTION_KEY")
            return None

    def email_hashes(self, company_id: uuid.UUID, email: str) -> list[str]:
        """The email's hash under every configured key (the first is the one stored now)."""
        text = f"{company_id}:{email.strip().lower()}".encode()
        return [hmac.new(key, text, hashlib.sha256).hexdigest() for key in self.hash_keys]

    def revoke_token(self, session: AsyncSession, lead: Lead) -> None:
        """After commit: the gateway refuses the lead's token (until it would have expired)."""
        jti, expires = lead.last_token_jti, lead.last_token_expires_at
        if jti is None or expires is None:
            return
        ttl = int((expires - utcnow()).total_seconds()) + _REVOCATION_MARGIN_SECONDS
        if ttl <= 0:
            return

        async def write() -> None:
            await self.redis.set(REVOKED_JTI_KEY.format(jti=jti), 1, ex=ttl)

        after_commit(session, write)

    def forget_history(self, session: AsyncSession, conversation_ids: Sequence[uuid.UUID]) -> None:
        """After commit: drop the chat history Redis keeps of these conversations."""
        history = self.history
        if history is None or not conversation_ids:
            return

        async def drop() -> None:
            for conversation_id in conversation_ids:
                await history.forget(conversation_id)

        after_commit(session, drop)


def build_tools(settings: ConversationsSettings, redis: Redis, history: History | None) -> LeadTools:
    """The tools from the settings' keys; 503 `leads_not_configured` without ENCRYPTION_KEY."""
    keys = [k.strip() for k in settings.encryption_key.get_secret_value().split(",") if k.strip()]
    if not keys:
        raise LeadsNotConfigured()
    pem = settings.knowrithm_lead_token_private_key.get_secret_value()
    signer = LeadTokenSigner(pem, ttl_seconds=settings.lead_token_ttl_seconds) if pem.strip() else None
    # A key of its own for the email HMAC, derived from each Fernet key (never the Fernet key itself).
    hash_keys = tuple(hmac.new(k.encode(), b"knowrithm lead email v1", hashlib.sha256).digest() for k in keys)
    return LeadTools(SecretBox(",".join(keys)), hash_keys, signer, redis, history)


def lead_out(lead: Lead, tools: LeadTools) -> LeadOut:
    """A lead as the API shows it, email and phone decrypted."""
    skip = {"full_name", "email", "phone", "metadata", "is_active"}
    fields = {k: getattr(lead, k) for k in LeadOut.model_fields if k not in skip}
    full_name = " ".join(part for part in (lead.first_name, lead.last_name) if part)
    return LeadOut(full_name=full_name, email=tools.open(lead.email_encrypted),
                   phone=tools.open(lead.phone_encrypted), metadata=lead.lead_metadata,
                   is_active=lead.deleted_at is None, **fields)


def _new_lead(company_id: uuid.UUID, body: NewLead | LeadRegistration, tools: LeadTools) -> Lead:
    return Lead(
        id=uuid.uuid4(), company_id=company_id, first_name=body.first_name, last_name=body.last_name,
        email_encrypted=tools.seal(body.email), email_hash=tools.email_hashes(company_id, body.email)[0],
        phone_encrypted=tools.seal(body.phone), source=body.source,
        consent_data_processing=body.consent_data_processing, consent_marketing=body.consent_marketing,
    )


def _origin_allowed(agent: AgentView, origin: str | None) -> bool:
    if origin is None:
        return True  # no Origin: not a browser, nothing to check
    return origin_listed(agent.widget_config, origin) is not False  # no list: any site


@dataclass(frozen=True, slots=True)
class Registration:
    lead: Lead
    conversation: Conversation | None
    agent: AgentView
    token: str
    claims: LeadTokenClaims


async def register(
    session: AsyncSession, body: LeadRegistration, *, origin: str | None, tools: LeadTools,
    agents: AgentsOwner, actor: Actor,
) -> Registration:
    """A widget visitor becomes a new lead, with a conversation (if asked) and a lead token."""
    if not body.consent_data_processing:
        raise ConsentRequired()
    agent = await visitor_agent(session, body.agent_id, owner=agents, unavailable=AgentNotAvailable)
    if not _origin_allowed(agent, origin):
        raise OriginNotAllowed()
    if tools.signer is None:
        raise LeadsNotConfigured()
    lead = _new_lead(agent.company_id, body, tools)
    lead.agent_id, lead.status = agent.agent_id, LeadStatus.NEW.value
    session.add(lead)
    await session.flush()
    conversation = None
    if body.start_conversation:
        principal = Principal(kind="lead", role=Role.LEAD, company_id=agent.company_id, lead_id=lead.id)
        new = NewConversation(agent_id=agent.agent_id, **({"title": body.title} if body.title else {}))
        as_lead = Subject(principal, agent.company_id, actor)
        conversation, _ = await conversations.create_conversation(session, as_lead, new, agents=agents)
    token, claims = tools.signer.mint(lead_id=lead.id, company_id=agent.company_id, agent_id=agent.agent_id,
                                      conversation_id=conversation.id if conversation else None)
    lead.last_token_jti = claims.jti
    lead.last_token_expires_at = dt.datetime.fromtimestamp(claims.exp, dt.UTC)
    await session.flush()
    registered = LeadRegisteredV1(
        lead_id=lead.id, agent_id=agent.agent_id, conversation_id=conversation.id if conversation else None,
        channel="widget", source=lead.source, status=lead.status, consent_marketing=lead.consent_marketing,
    )
    await outbox.add(session, registered, company_id=agent.company_id, actor=actor)
    return Registration(lead, conversation, agent, token, claims)


async def create_lead(
    session: AsyncSession, subject: Subject, body: NewLead, *, tools: LeadTools, agents: AgentsOwner
) -> Lead:
    """An admin records a lead for their company (super admins: for the company they name, 400
    `company_id_required` when they name none; another company's id: 404)."""
    company_id = subject.named(body.company_id)
    actor = subject.actor
    if body.agent_id is not None:
        await get_agent(session, company_id=company_id, agent_id=body.agent_id, owner=agents)
    lead = _new_lead(company_id, body, tools)
    lead.agent_id, lead.status, lead.notes = body.agent_id, body.status.value, body.notes
    lead.lead_metadata = body.metadata
    _status_side_effects(lead, body.status)
    session.add(lead)
    await session.flush()
    registered = LeadRegisteredV1(lead_id=lead.id, agent_id=lead.agent_id, channel="admin",
                                  source=lead.source, status=lead.status,
                                  consent_marketing=lead.consent_marketing)
    await outbox.add(session, registered, company_id=company_id, actor=actor)
    if body.status is LeadStatus.CONVERTED:
        converted = LeadConvertedV1(lead_id=lead.id, agent_id=lead.agent_id,
                                    previous_status=LeadStatus.NEW.value)
        await outbox.add(session, converted, company_id=company_id, actor=actor)
    return lead


async def leads_page(
    session: AsyncSession, subject: Subject, page: PageParams, *, tools: LeadTools,
    status: LeadStatus | None, agent_id: uuid.UUID | None, search: str | None, created: Period | None = None,
) -> tuple[Sequence[Lead], Pagination]:
    """One page of the caller's company's leads (super admins: every company's), filtered."""
    company_id = subject.company_id
    search = (search or "").strip() or None
    hashes: list[str] = []
    if search and "@" in search and company_id is not None:
        hashes = tools.email_hashes(company_id, search)
    return await repo.leads_page(session, company_id, page, status=status.value if status else None,
                                 agent_id=agent_id, search=search, email_hashes=hashes, created=created)


async def find_lead(
    session: AsyncSession, subject: Subject, lead_id: uuid.UUID, *, include_deleted: bool = False,
    lock: bool = False,
) -> Lead:
    """A lead of the caller's company; 404 `lead_not_found` otherwise."""
    lead = await repo.get_lead(session, lead_id, subject.company_id, include_deleted=include_deleted,
                               lock=lock)
    if lead is None:
        raise LeadNotFound()
    return lead


def _status_side_effects(lead: Lead, status: LeadStatus) -> None:
    if status is LeadStatus.CONVERTED:
        lead.converted_at = utcnow()
    elif status is LeadStatus.CONTACTED:
        lead.last_contacted_at = utcnow()


def _apply(lead: Lead, field: str, value: Any, tools: LeadTools) -> None:
    if field == "email":
        lead.email_encrypted = tools.seal(value)
        lead.email_hash = tools.email_hashes(lead.company_id, value)[0]
    elif field == "phone":
        lead.phone_encrypted = tools.seal(value)
    elif field == "metadata":
        lead.lead_metadata = value
    elif field == "status":
        lead.status = value.value
    else:
        setattr(lead, field, value)


async def update_lead(
    session: AsyncSession, subject: Subject, lead_id: uuid.UUID, changes: LeadChanges, *, tools: LeadTools
) -> Lead:
    """Change a lead's details and status; a new status is announced (converted: once more)."""
    lead = await find_lead(session, subject, lead_id, lock=True)
    actor = subject.actor
    previous = LeadStatus(lead.status)
    given = {name: getattr(changes, name) for name in changes.model_fields_set}
    for name, value in given.items():
        _apply(lead, name, value, tools)
    status = LeadStatus(lead.status)
    if status is not previous:
        _status_side_effects(lead, status)
    await session.flush()
    await session.refresh(lead, ["updated_at"])
    updated = LeadUpdatedV1(lead_id=lead.id, status=status.value, previous_status=previous.value,
                            changed=sorted(given))
    await outbox.add(session, updated, company_id=lead.company_id, actor=actor)
    if status is LeadStatus.CONVERTED and previous is not LeadStatus.CONVERTED:
        converted = LeadConvertedV1(lead_id=lead.id, agent_id=lead.agent_id, previous_status=previous.value)
        await outbox.add(session, converted, company_id=lead.company_id, actor=actor)
    return lead


async def delete_lead(
    session: AsyncSession, subject: Subject, lead_id: uuid.UUID, *, tools: LeadTools
) -> None:
    """Soft-delete a lead and revoke its lead token (its conversations stay until erased)."""
    lead = await find_lead(session, subject, lead_id, lock=True)
    lead.deleted_at = utcnow()
    tools.revoke_token(session, lead)
    await outbox.add(session, LeadDeletedV1(lead_id=lead.id), company_id=lead.company_id, actor=subject.actor)


async def erase_lead(
    session: AsyncSession, subject: Subject, lead_id: uuid.UUID, *, tools: LeadTools
) -> repo.Erased:
    """GDPR erasure: hard-delete the lead's conversations, messages and feedback, blank its
    personal data, revoke its token. The blank row stays so its id never comes back to life."""
    lead = await find_lead(session, subject, lead_id, include_deleted=True, lock=True)
    erased = await repo.erase_owned(session, lead)
    now = utcnow()
    lead.first_name, lead.last_name, lead.notes, lead.source = "", None, None, None
    lead.email_encrypted = lead.email_hash = lead.phone_encrypted = None
    lead.lead_metadata = {}
    lead.erased_at, lead.deleted_at = now, lead.deleted_at or now
    tools.revoke_token(session, lead)
    tools.forget_history(session, erased.conversation_ids)
    gone = LeadDeletedV1(lead_id=lead.id, erased=True, conversations_deleted=erased.conversations,
                         messages_deleted=erased.messages)
    await outbox.add(session, gone, company_id=lead.company_id, actor=subject.actor)
    return erased


async def export_lead(
    session: AsyncSession, subject: Subject, lead_id: uuid.UUID, tools: LeadTools
) -> LeadExport:
    """GDPR access: the lead decrypted, its conversations with every message, and feedback."""
    lead = await find_lead(session, subject, lead_id, include_deleted=True)
    owned = await repo.conversations_of(session, lead)
    ids = [c.id for c in owned]
    by_conversation: dict[uuid.UUID, list[MessageOut]] = defaultdict(list)
    for message in await repo.messages_of(session, ids):
        by_conversation[message.conversation_id].append(MessageOut.of(message))
    agents = await agents_by_id(session, (c.agent_id for c in owned))
    exported = [
        ExportedConversation(
            **ConversationOut.of(c, agents.get(c.agent_id)).model_dump(),
            messages=by_conversation[c.id],
        )
        for c in owned
    ]
    feedback = [FeedbackOut.of(f) for f in await repo.feedback_of(session, lead, ids)]
    return LeadExport(exported_at=utcnow(), lead=lead_out(lead, tools), conversations=exported,
                      feedback=feedback)
