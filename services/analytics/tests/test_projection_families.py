"""Every event family lands in its projection: exact rows, once, newest state wins, tenants apart.

Events are published through the embedded NATS JetStream like the producers' relays do and
applied by the app's durable consumer; the rows are read back from the analytics schema.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from nats.js.api import StorageType, StreamConfig
from prometheus_client import REGISTRY
from sqlalchemy import select

from knowrithm_analytics.models import (
    AgentFact,
    ApiKeyFact,
    ApiRequestFact,
    AuditEntry,
    CompanyRegistration,
    ConversationFact,
    DocumentFact,
    FeedbackFact,
    LeadFact,
    MessageFact,
    UserRegistration,
    shared,
)
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_common.events import Actor, EventData, EventEnvelope, new_event
from knowrithm_common.events.agents import (
    AgentConfiguration,
    AgentCreatedV1,
    AgentDeletedV1,
    AgentUpdatedV1,
    SettingsChangedV1,
)
from knowrithm_common.events.auth import (
    ApiKeyCreatedV1,
    ApiKeyRevokedV1,
    AuditRecordedV1,
    CompanyCreatedV1,
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
from knowrithm_common.events.gateway import ApiRequest, ApiRequestsRecordedV1
from knowrithm_common.events.ingestion import (
    DocumentDeletedV1,
    DocumentFailedV1,
    DocumentProcessedV1,
    DocumentRestoredV1,
    DocumentUploadedV1,
    WebsiteSourceRegisteredV1,
)
from knowrithm_common.identity import Principal, Role
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.messaging.streams import DEADLETTER_PREFIX, DEADLETTER_STREAM

from .conftest import caught_up, eventually, publish

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PROJECTIONS = (
    CompanyRegistration, UserRegistration, AgentFact, ConversationFact, MessageFact, LeadFact, FeedbackFact,
    DocumentFact, ApiKeyFact, ApiRequestFact, AuditEntry,
)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def event(data: EventData, company: uuid.UUID | None, *, t: float, source: str | None = None,
          actor: Actor | None = None) -> EventEnvelope:
    """An envelope as its producer would publish it, stamped at T0 + t seconds."""
    made = new_event(data, source=source or data.event_type.split(".")[0], company_id=company, actor=actor)
    return made.model_copy(update={"time": at(t)})


def configuration(model: str) -> AgentConfiguration:
    return AgentConfiguration(
        settings_id=uuid.uuid4(), settings_level="agent", llm_provider_id=uuid.uuid4(), llm_provider="gemini",
        llm_model_id=uuid.uuid4(), llm_model=model, llm_api_base_url=None, llm_temperature=0.3, llm_max_tokens=800,
        embedding_provider_id=uuid.uuid4(), embedding_provider="offline", embedding_model_id=uuid.uuid4(),
        embedding_model="offline", embedding_api_base_url=None, embedding_dimension=384,
    )


async def feed(app, events: list[EventEnvelope]) -> None:
    for e in events:
        await publish(app, e)
    await caught_up(app)


async def rows(app, model, **where) -> list[dict]:
    """The table's rows matching `where`, ordered by primary key."""
    table = model.__table__
    stmt = select(table).where(*[table.c[k] == v for k, v in where.items()]).order_by(*table.primary_key.columns)
    async with app.state.db.sessions() as session:
        return [dict(r._mapping) for r in await session.execute(stmt)]


async def company_rows(app, company: uuid.UUID) -> dict[str, list[dict]]:
    """Everything the projections hold for one company."""
    return {model.__tablename__: await rows(app, model, company_id=company) for model in PROJECTIONS}


# --- a small, complete history of one company (used by several tests) ----------------------


def history(company: uuid.UUID) -> tuple[dict[str, uuid.UUID], list[EventEnvelope]]:
    """One company's events of every family, in order; the ids they use by name."""
    ids = {name: uuid.uuid4() for name in ("admin", "uma", "agent", "conv", "lead", "doc", "key", "m1", "m2", "fb")}
    admin = Actor(kind="user", id=ids["admin"], ip="198.51.100.4", user_agent="pytest")
    events = [
        event(CompanyCreatedV1(company_id=company, name="Acme", email="acme@example.com"), company, t=0),
        event(UserRegisteredV1(user_id=ids["admin"], company_id=company, email="a@example.com", username="ada",
                               role="admin"), company, t=1),
        event(UserRegisteredV1(user_id=ids["uma"], company_id=company, email="u@example.com", username="uma",
                               role="user"), company, t=2),
        event(AuditRecordedV1(action="user.login", outcome="success", target_type="user",
                              target_id=str(ids["admin"])), company, t=3, actor=admin),
        event(AgentCreatedV1(agent_id=ids["agent"], company_id=company, name="Sales", status="active",
                             configuration=configuration("gemini-2.5-flash")), company, t=4, actor=admin),
        event(ApiKeyCreatedV1(api_key_id=ids["key"], company_id=company, user_id=ids["admin"], name="ci",
                              scopes=["read", "write"], key_prefix="kn_ci", rate_limit_per_hour=100,
                              rate_limit_per_day=1000, expires_at=at(86400)), company, t=5, actor=admin),
        event(ConversationCreatedV1(conversation_id=ids["conv"], agent_id=ids["agent"], entity_type="user",
                                    entity_id=ids["uma"]), company, t=6),
        event(MessageCreatedV1(message_id=ids["m1"], conversation_id=ids["conv"], agent_id=ids["agent"], role="user",
                               status="complete"), company, t=7),
        event(MessageCreatedV1(message_id=ids["m2"], conversation_id=ids["conv"], agent_id=ids["agent"],
                               role="assistant", status="complete", input_tokens=12, output_tokens=40, latency_ms=900,
                               first_token_ms=150, model="gemini-2.5-flash", citations=2), company, t=8),
        event(FeedbackGivenV1(feedback_id=ids["fb"], conversation_id=ids["conv"], message_id=ids["m2"],
                              agent_id=ids["agent"], entity_type="user", rating=4, thumbs="up", has_comment=True),
              company, t=9),
        event(LeadRegisteredV1(lead_id=ids["lead"], agent_id=ids["agent"], channel="widget", source="website",
                               status="new", consent_marketing=True), company, t=10),
        event(LeadUpdatedV1(lead_id=ids["lead"], status="qualified", previous_status="new", changed=["status"]),
              company, t=11, actor=admin),
        event(LeadConvertedV1(lead_id=ids["lead"], agent_id=ids["agent"], previous_status="qualified"), company,
              t=12, actor=admin),
        event(DocumentUploadedV1(document_id=ids["doc"], agent_id=ids["agent"], original_filename="faq.pdf",
                                 document_type="pdf", file_size=2048, source="upload"), company, t=13, actor=admin),
        event(DocumentProcessedV1(document_id=ids["doc"], agent_id=ids["agent"], document_type="pdf", page_count=3,
                                  chunk_count=7, word_count=900, embedding_model="offline", duration_ms=1200),
              company, t=14),
        event(ApiRequestsRecordedV1(requests=[
            ApiRequest(id=f"req-{company.hex}-{i}", time=at(15 + i), company_id=company, api_key_id=ids["key"],
                       credential="api_key", method="GET", route="/api/v1/agent", status=status, latency_ms=12.5,
                       rate_limited=status == 429, ip="203.0.113.9")
            for i, status in enumerate((200, 404, 429))
        ]), None, t=18, source="gateway"),
    ]  # fmt: skip
    return ids, events


# --- every family: exact rows ----------------------------------------------------------------


async def test_auth_events_keep_companies_users_api_keys_and_the_audit_log(client, call):
    app, acme, other = client.app, uuid.uuid4(), uuid.uuid4()
    u1, u2, key, boss = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    browser = Actor(kind="user", id=u1, ip="198.51.100.7", user_agent="Firefox/140")
    impersonating = Actor(kind="user", id=u2, impersonator_id=boss, ip="198.51.100.8")
    await feed(app, [
        event(CompanyCreatedV1(company_id=acme, name="Acme", email="acme@example.com"), acme, t=0),
        event(UserRegisteredV1(user_id=u1, company_id=acme, email="a@example.com", username="ada", role="admin"),
              acme, t=1),
        event(UserRegisteredV1(user_id=u2, company_id=acme, email="b@example.com", username="bob", role="user"),
              acme, t=2),
        event(ApiKeyCreatedV1(api_key_id=key, company_id=acme, user_id=u1, name="ci", scopes=["read"],
                              key_prefix="kn_abc", rate_limit_per_hour=50, rate_limit_per_day=500,
                              expires_at=at(3600)), acme, t=3),
        event(AuditRecordedV1(action="user.login", outcome="failure", target_type="user", target_id=str(u1),
                              reason="invalid_credentials"), acme, t=4, actor=browser),
        event(CompanyUpdatedV1(company_id=acme, name="Acme GmbH", email="acme@example.com", is_active=True), acme, t=5),
        event(UserUpdatedV1(user_id=u2, company_id=acme, change="role", status="active", role="admin"), acme, t=6),
        event(UserUpdatedV1(user_id=u1, company_id=acme, change="deleted", status="active", role="admin"), acme, t=7),
        event(ApiKeyRevokedV1(api_key_id=key, company_id=acme, key_hash="h" * 64), acme, t=8),
        event(AuditRecordedV1(action="user.profile_updated", outcome="success", target_type="user",
                              target_id=str(u2)), acme, t=9, actor=impersonating),
        # another company's history, which must not mix in
        event(CompanyCreatedV1(company_id=other, name="Other", email="o@example.com"), other, t=0),
        event(UserRegisteredV1(user_id=uuid.uuid4(), company_id=other, email="o@example.com", username="olga",
                               role="admin"), other, t=1),
        event(AuditRecordedV1(action="user.login", outcome="success"), other, t=2),
    ])  # fmt: skip

    (company,) = await rows(app, CompanyRegistration, company_id=acme)
    assert (company["name"], company["registered_at"], company["deleted_at"]) == ("Acme GmbH", at(0), None)
    assert (company["email"], company["is_active"], company["updated_at"]) == ("acme@example.com", True, at(5))
    users = {u["user_id"]: u for u in await rows(app, UserRegistration, company_id=acme)}
    assert set(users) == {u1, u2}
    assert (users[u1]["username"], users[u1]["role"], users[u1]["deleted"], users[u1]["registered_at"]) == (
        "ada", "admin", True, at(1))
    assert (users[u2]["username"], users[u2]["role"], users[u2]["status"], users[u2]["deleted"]) == (
        "bob", "admin", "active", False)
    (api_key,) = await rows(app, ApiKeyFact, company_id=acme)
    assert {k: api_key[k] for k in ("api_key_id", "user_id", "name", "key_prefix", "scopes", "rate_limit_per_hour",
                                    "rate_limit_per_day", "created_at", "expires_at", "revoked_at")} == {
        "api_key_id": key, "user_id": u1, "name": "ci", "key_prefix": "kn_abc", "scopes": ["read"],
        "rate_limit_per_hour": 50, "rate_limit_per_day": 500, "created_at": at(3), "expires_at": at(3600),
        "revoked_at": at(8),
    }  # fmt: skip

    # Auth audits itself: its domain events (company, user, key changes) add no entries of their own.
    login, profile = await rows(app, AuditEntry, company_id=acme)
    assert {k: login[k] for k in ("time", "source", "category", "action", "outcome", "risk_level", "actor_kind",
                                  "actor_id", "ip", "user_agent", "target_type", "target_id", "reason")} == {
        "time": at(4), "source": "auth", "category": "auth", "action": "user.login", "outcome": "failure",
        "risk_level": "medium", "actor_kind": "user", "actor_id": u1, "ip": "198.51.100.7",
        "user_agent": "Firefox/140", "target_type": "user", "target_id": str(u1), "reason": "invalid_credentials",
    }  # fmt: skip
    assert (profile["action"], profile["actor_id"], profile["impersonator_id"], profile["risk_level"]) == (
        "user.profile_updated", u2, boss, "high")

    # What an admin of Acme sees: one user (the deleted one no longer counts), none of Other's.
    admin = Principal(kind="user", company_id=acme, role=Role.ADMIN)
    r = await call("GET", "/api/v1/admin/system-metric", admin)
    assert r.json()["metrics"]["users_registered"][0]["value"] == 1
    assert len(await rows(app, UserRegistration, company_id=other)) == 1
    assert [e["action"] for e in await rows(app, AuditEntry, company_id=other)] == ["user.login"]


async def test_agent_events_keep_the_newest_agent_state_and_audit_each_change(client):
    app, acme = client.app, uuid.uuid4()
    agent, bare, settings, admin_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    admin = Actor(kind="user", id=admin_id)
    await feed(app, [
        event(AgentCreatedV1(agent_id=agent, company_id=acme, name="Sales", status="active",
                             configuration=configuration("gemini-2.5-flash")), acme, t=0, actor=admin),
        event(AgentUpdatedV1(agent_id=agent, company_id=acme, name="Sales v2", status="inactive",
                             configuration=configuration("gpt-4o-mini")), acme, t=1, actor=admin),
        event(AgentDeletedV1(agent_id=agent, company_id=acme, name="Sales v2", status="inactive",
                             configuration=configuration("gpt-4o-mini")), acme, t=2, actor=admin),
        event(AgentCreatedV1(agent_id=bare, company_id=acme, name="Bare", status="active"), acme, t=3),
        event(SettingsChangedV1(settings_id=settings, company_id=acme, agent_id=None, change="deleted",
                                is_default=True, llm_provider="gemini", llm_model="gemini-2.5-flash",
                                embedding_provider="offline", embedding_model="offline", embedding_dimension=384),
              acme, t=4, actor=admin),
    ])  # fmt: skip

    sales, plain = sorted(await rows(app, AgentFact, company_id=acme), key=lambda a: a["name"], reverse=True)
    assert {k: sales[k] for k in ("agent_id", "name", "status", "model", "created_at", "deleted_at", "event_time")} == {
        "agent_id": agent, "name": "Sales v2", "status": "inactive", "model": "gpt-4o-mini", "created_at": at(0),
        "deleted_at": at(2), "event_time": at(2),
    }  # fmt: skip
    assert (plain["agent_id"], plain["model"], plain["deleted_at"]) == (bare, None, None)

    trail = [(e["action"], e["category"], e["target_type"], e["target_id"], e["risk_level"], e["actor_id"])
             for e in sorted(await rows(app, AuditEntry, company_id=acme), key=lambda e: e["time"])]
    assert trail == [
        ("agents.agent.created", "agents", "agent", str(agent), "low", admin_id),
        ("agents.agent.updated", "agents", "agent", str(agent), "low", admin_id),
        ("agents.agent.deleted", "agents", "agent", str(agent), "medium", admin_id),
        ("agents.agent.created", "agents", "agent", str(bare), "low", None),
        ("agents.settings.changed", "agents", "settings", str(settings), "medium", admin_id),
    ]


async def test_conversation_events_keep_conversations_messages_leads_and_feedback(client):
    app, acme = client.app, uuid.uuid4()
    ids, events = history(acme)
    gone_lead, gone_conv = uuid.uuid4(), uuid.uuid4()
    await feed(app, [
        *events,
        event(ConversationDeletedV1(conversation_id=ids["conv"], agent_id=ids["agent"]), acme, t=20),
        event(ConversationRestoredV1(conversation_id=ids["conv"], agent_id=ids["agent"]), acme, t=21),
        event(LeadRegisteredV1(lead_id=gone_lead, channel="admin", status="new"), acme, t=22),
        event(ConversationCreatedV1(conversation_id=gone_conv, agent_id=ids["agent"], entity_type="lead",
                                    entity_id=gone_lead), acme, t=23),
        event(LeadDeletedV1(lead_id=gone_lead, erased=True, conversations_deleted=1), acme, t=24),
    ])  # fmt: skip

    conversations = {c["conversation_id"]: c for c in await rows(app, ConversationFact, company_id=acme)}
    kept = conversations[ids["conv"]]
    assert (kept["agent_id"], kept["entity_type"], kept["entity_id"], kept["started_at"], kept["deleted_at"],
            kept["lifecycle_at"]) == (ids["agent"], "user", ids["uma"], at(6), None, at(21))
    assert conversations[gone_conv]["deleted_at"] == at(24)  # erased with its lead (GDPR)

    messages = await rows(app, MessageFact, company_id=acme)
    assert sorted((m["role"], m["input_tokens"], m["output_tokens"], m["latency_ms"], m["first_token_ms"],
                   m["model"], m["citations"], m["created_at"]) for m in messages) == [
        ("assistant", 12, 40, 900, 150, "gemini-2.5-flash", 2, at(8)),
        ("user", 0, 0, None, None, None, 0, at(7)),
    ]  # fmt: skip
    (fb,) = await rows(app, FeedbackFact, company_id=acme)
    assert (fb["message_id"], fb["rating"], fb["thumbs"], fb["has_comment"], fb["created_at"]) == (
        ids["m2"], 4, "up", True, at(9))

    leads = {lead["lead_id"]: lead for lead in await rows(app, LeadFact, company_id=acme)}
    lead = leads[ids["lead"]]
    assert {k: lead[k] for k in ("agent_id", "channel", "source", "status", "consent_marketing", "registered_at",
                                 "converted_at", "deleted_at")} == {
        "agent_id": ids["agent"], "channel": "widget", "source": "website", "status": "converted",
        "consent_marketing": True, "registered_at": at(10), "converted_at": at(12), "deleted_at": None,
    }  # fmt: skip
    assert leads[gone_lead]["deleted_at"] == at(24)

    trail = {e["action"]: e for e in await rows(app, AuditEntry, company_id=acme) if e["source"] == "conversations"}
    assert "conversations.message.created" not in trail  # activity, not an action
    assert trail["conversations.lead.deleted"]["risk_level"] == "high"  # erasure
    assert trail["conversations.lead.deleted"]["detail"]["erased"] is True
    assert trail["conversations.conversation.deleted"]["risk_level"] == "medium"
    assert trail["conversations.feedback.given"]["target_id"] == str(ids["fb"])


async def test_document_events_keep_processing_state_uploader_and_failures(client):
    app, acme = client.app, uuid.uuid4()
    ok, bad, uploader, site = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    by_user = Actor(kind="user", id=uploader)
    await feed(app, [
        event(DocumentUploadedV1(document_id=ok, agent_id=None, original_filename="a.pdf", document_type="pdf",
                                 file_size=4096, source="upload"), acme, t=0, actor=by_user),
        event(DocumentUploadedV1(document_id=bad, agent_id=None, original_filename="b.docx", document_type="docx",
                                 file_size=10, source="url"), acme, t=1, actor=by_user),
        event(DocumentProcessedV1(document_id=ok, agent_id=None, document_type="pdf", page_count=3, chunk_count=7,
                                  word_count=900, embedding_model="offline", duration_ms=1200), acme, t=2),
        event(DocumentFailedV1(document_id=bad, agent_id=None, document_type="docx", code="extraction_failed",
                               reason="The file could not be read"), acme, t=3),
        event(DocumentDeletedV1(document_id=ok, agent_id=None), acme, t=4),
        event(DocumentRestoredV1(document_id=ok, agent_id=None), acme, t=5),
        event(WebsiteSourceRegisteredV1(website_source_id=site, agent_id=uuid.uuid4(), base_url="https://x.test",
                                        domain="x.test"), acme, t=6),
    ])  # fmt: skip

    docs = {d["document_id"]: d for d in await rows(app, DocumentFact, company_id=acme)}
    fields = ("uploaded_by", "document_type", "source", "file_size", "status", "page_count", "chunk_count",
              "word_count", "duration_ms", "failure_code", "uploaded_at", "deleted_at", "state_time", "lifecycle_at")
    assert {k: docs[ok][k] for k in fields} == {
        "uploaded_by": uploader, "document_type": "pdf", "source": "upload", "file_size": 4096,
        "status": "processed", "page_count": 3, "chunk_count": 7, "word_count": 900, "duration_ms": 1200,
        "failure_code": None, "uploaded_at": at(0), "deleted_at": None, "state_time": at(2), "lifecycle_at": at(5),
    }  # fmt: skip
    assert (docs[bad]["status"], docs[bad]["failure_code"], docs[bad]["source"]) == (
        "failed", "extraction_failed", "url")

    trail = {e["action"]: e for e in await rows(app, AuditEntry, company_id=acme)}
    failed = trail["ingestion.document.failed"]
    assert (failed["outcome"], failed["reason"], failed["risk_level"], failed["category"]) == (
        "failure", "The file could not be read", "medium", "ingestion")
    assert trail["ingestion.document.deleted"]["risk_level"] == "medium"
    assert trail["ingestion.website.registered"]["target_type"] == "website"
    assert trail["ingestion.website.registered"]["target_id"] == str(site)


async def test_api_request_batches_record_each_request_once_under_its_own_company(client):
    app, acme, other = client.app, uuid.uuid4(), uuid.uuid4()

    def request(rid: str, company: uuid.UUID, status: int) -> ApiRequest:
        return ApiRequest(id=rid, time=at(1), company_id=company, user_id=uuid.uuid4(), credential="user",
                          method="POST", route="/api/v1/agent", status=status, latency_ms=3.25,
                          rate_limited=status == 429, ip="192.0.2.1")

    ids = [f"req-{uuid.uuid4().hex}" for _ in range(4)]
    first = [request(ids[0], acme, 201), request(ids[1], acme, 429), request(ids[2], other, 500)]
    await feed(app, [
        event(ApiRequestsRecordedV1(requests=first), None, t=2, source="gateway"),
        # the next batch repeats one request (a gateway retrying its publish) and adds one
        event(ApiRequestsRecordedV1(requests=[first[0], request(ids[3], acme, 200)]), None, t=3, source="gateway"),
    ])  # fmt: skip

    recorded = await rows(app, ApiRequestFact, company_id=acme)
    assert sorted((r["request_id"], r["status"], r["rate_limited"], r["credential"], r["method"], r["route"],
                   r["latency_ms"], r["ip"], r["time"]) for r in recorded) == sorted([
        (ids[0], 201, False, "user", "POST", "/api/v1/agent", 3.25, "192.0.2.1", at(1)),
        (ids[1], 429, True, "user", "POST", "/api/v1/agent", 3.25, "192.0.2.1", at(1)),
        (ids[3], 200, False, "user", "POST", "/api/v1/agent", 3.25, "192.0.2.1", at(1)),
    ])  # fmt: skip
    assert [r["request_id"] for r in await rows(app, ApiRequestFact, company_id=other)] == [ids[2]]
    assert await rows(app, AuditEntry, company_id=acme) == []  # usage is not an audited action


async def test_another_companys_event_naming_our_ids_changes_nothing(client):
    app, acme, intruder = client.app, uuid.uuid4(), uuid.uuid4()
    ids, events = history(acme)
    await feed(app, events)
    before = await company_rows(app, acme)

    await feed(app, [
        event(LeadUpdatedV1(lead_id=ids["lead"], status="lost", previous_status="converted"), intruder, t=50),
        event(AgentUpdatedV1(agent_id=ids["agent"], company_id=intruder, name="Hijacked", status="active"),
              intruder, t=51),
        event(DocumentDeletedV1(document_id=ids["doc"], agent_id=None), intruder, t=52),
        event(ConversationDeletedV1(conversation_id=ids["conv"], agent_id=ids["agent"]), intruder, t=53),
        event(ApiKeyRevokedV1(api_key_id=ids["key"], company_id=intruder, key_hash="x"), intruder, t=54),
    ])  # fmt: skip
    assert await company_rows(app, acme) == before
    projected = {name: tables for name, tables in (await company_rows(app, intruder)).items() if tables}
    assert set(projected) == {"audit_log"}  # only the attempts' audit entries, under the intruder


# --- idempotency -----------------------------------------------------------------------------


async def test_redelivered_events_change_nothing(client):
    app, acme = client.app, uuid.uuid4()
    _, events = history(acme)
    await feed(app, events)
    once = await company_rows(app, acme)
    assert all(once[model.__tablename__] for model in PROJECTIONS)

    await feed(app, events)  # the same envelopes again, as new stream messages (new Nats-Msg-Id)
    assert await company_rows(app, acme) == once


async def test_handlers_applied_twice_without_the_processed_record_change_nothing(client):
    app, acme = client.app, uuid.uuid4()
    ids, events = history(acme)
    events.append(event(LeadDeletedV1(lead_id=ids["lead"], erased=True), acme, t=30))
    snapshots = []
    for _ in range(2):  # a rebuild replaying what the live consumer already applied
        async with app.state.db.sessions() as session, session.begin():
            for e in events:
                await HANDLERS[e.type](session, e)
        snapshots.append(await company_rows(app, acme))
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]["messages"]) == 2 and len(snapshots[0]["api_requests"]) == 3


async def test_out_of_order_state_events_keep_the_newest_state(client):
    app, acme = client.app, uuid.uuid4()
    user, agent, lead, doc, conv, key = (uuid.uuid4() for _ in range(6))
    newest_first = [
        event(CompanyUpdatedV1(company_id=acme, name="Acme 2", email="two@example.com", is_active=True), acme, t=9),
        event(CompanyUpdatedV1(company_id=acme, name="Acme 1", email="one@example.com", is_active=False), acme, t=3),
        event(UserUpdatedV1(user_id=user, company_id=acme, change="status", status="suspended", role="admin"),
              acme, t=8),
        event(UserRegisteredV1(user_id=user, company_id=acme, email="u@example.com", username="una", role="user"),
              acme, t=1),
        event(AgentUpdatedV1(agent_id=agent, company_id=acme, name="New name", status="inactive"), acme, t=8),
        event(AgentCreatedV1(agent_id=agent, company_id=acme, name="Old name", status="active"), acme, t=1),
        event(LeadConvertedV1(lead_id=lead, agent_id=agent, previous_status="qualified"), acme, t=7),
        event(LeadUpdatedV1(lead_id=lead, status="qualified", previous_status="new"), acme, t=6),
        event(LeadRegisteredV1(lead_id=lead, agent_id=agent, channel="widget", source="ads", status="new",
                               consent_marketing=True), acme, t=2),
        event(DocumentProcessedV1(document_id=doc, agent_id=agent, document_type="pdf", page_count=1, chunk_count=2,
                                  word_count=30, embedding_model="offline", duration_ms=5), acme, t=5),
        event(DocumentDeletedV1(document_id=doc, agent_id=agent), acme, t=6),
        event(DocumentRestoredV1(document_id=doc, agent_id=agent), acme, t=4),
        event(DocumentUploadedV1(document_id=doc, agent_id=agent, original_filename="x.pdf", document_type="pdf",
                                 file_size=99, source="upload"), acme, t=3, actor=Actor(kind="user", id=user)),
        event(ConversationRestoredV1(conversation_id=conv, agent_id=agent), acme, t=6),
        event(ConversationDeletedV1(conversation_id=conv, agent_id=agent), acme, t=5),
        event(ConversationCreatedV1(conversation_id=conv, agent_id=agent, entity_type="lead", entity_id=lead),
              acme, t=4),
        event(ApiKeyRevokedV1(api_key_id=key, company_id=acme, key_hash="h"), acme, t=6),
        event(ApiKeyCreatedV1(api_key_id=key, company_id=acme, user_id=user, name="late", scopes=["read"]), acme, t=2),
        event(CompanyCreatedV1(company_id=acme, name="Acme", email="a@example.com"), acme, t=0),
    ]  # fmt: skip
    await feed(app, newest_first)

    (company,) = await rows(app, CompanyRegistration, company_id=acme)
    assert (company["name"], company["email"], company["is_active"], company["registered_at"], company["updated_at"]) == (
        "Acme 2", "two@example.com", True, at(0), at(9))
    (u,) = await rows(app, UserRegistration, company_id=acme)
    assert (u["username"], u["role"], u["status"], u["registered_at"], u["state_time"]) == (
        "una", "admin", "suspended", at(1), at(8))
    (a,) = await rows(app, AgentFact, company_id=acme)
    assert (a["name"], a["status"], a["created_at"], a["event_time"]) == ("New name", "inactive", at(1), at(8))
    (ld,) = await rows(app, LeadFact, company_id=acme)
    assert (ld["status"], ld["converted_at"], ld["registered_at"], ld["channel"], ld["source"],
            ld["consent_marketing"], ld["state_time"]) == ("converted", at(7), at(2), "widget", "ads", True, at(7))
    (d,) = await rows(app, DocumentFact, company_id=acme)
    assert (d["status"], d["word_count"], d["uploaded_by"], d["file_size"], d["uploaded_at"]) == (
        "processed", 30, user, 99, at(3))
    assert (d["deleted_at"], d["lifecycle_at"], d["state_time"]) == (at(6), at(6), at(5))
    (c,) = await rows(app, ConversationFact, company_id=acme)
    assert (c["deleted_at"], c["lifecycle_at"], c["entity_type"], c["entity_id"], c["started_at"]) == (
        None, at(6), "lead", lead, at(4))
    (k,) = await rows(app, ApiKeyFact, company_id=acme)
    assert (k["name"], k["scopes"], k["created_at"], k["revoked_at"]) == ("late", ["read"], at(2), at(6))


# --- the consumer's batched mode (a stream of this test's own, so a poison message stays here) --


@pytest.fixture
async def test_stream(client):
    js = client.app.state.nats.js
    name = f"PROJTEST_{uuid.uuid4().hex[:8].upper()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.MEMORY))
    yield name
    await js.delete_stream(name)


async def test_batched_consumer_applies_a_batch_once_and_dead_letters_only_its_poison(client, test_stream):
    app, acme = client.app, uuid.uuid4()
    _, events = history(acme)
    poison = event(MessageCreatedV1(message_id=uuid.uuid4(), conversation_id=uuid.uuid4(), agent_id=uuid.uuid4(),
                                    role="user", status="complete"), None, t=30)  # no company: cannot be stored
    js = app.state.nats.js
    for e in [*events, events[7], poison]:  # events[7]: a message delivered twice within the batch
        await js.publish(f"{test_stream.lower()}.{e.type}", e.model_dump_json().encode())
    durable = f"batched-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(
        db=app.state.db, processed=shared.processed, nats=app.state.nats, durable=durable,
        filter_subject=f"{test_stream.lower()}.>", stream=test_stream, handlers=HANDLERS, batch=64,
        transaction_per_batch=True, max_deliver=2, backoff=(0.1,),
    )  # fmt: skip
    await consumer.start()
    await consumer.wait_subscribed()
    try:
        async def backlog():
            info = await js.consumer_info(test_stream, durable)
            return info.num_pending + info.num_ack_pending

        await eventually(backlog, lambda pending: pending == 0, timeout=10)
    finally:
        await consumer.stop()

    projected = await company_rows(app, acme)
    assert len(projected["messages"]) == 2 and len(projected["api_requests"]) == 3
    assert projected["leads"][0]["status"] == "converted"
    assert REGISTRY.get_sample_value(
        "knowrithm_events_consumed_total", {"consumer": durable, "outcome": "duplicate"}) == 1
    assert REGISTRY.get_sample_value(
        "knowrithm_events_consumed_total", {"consumer": durable, "outcome": "deadlettered"}) == 1
    parked = await js.get_last_msg(DEADLETTER_STREAM, DEADLETTER_PREFIX + durable)
    assert EventEnvelope.model_validate_json(parked.data).id == poison.id
    assert "company_id" in parked.headers["Knowrithm-Error"]
