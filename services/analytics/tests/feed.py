"""A known company's history as real event envelopes, published through NATS like the producers' relays.

`company_feed()` builds one company: users, agents, conversations with messages, feedback,
leads through the funnel, documents, logins, API keys and API requests, plus things that must
NOT count (a deleted user, agent, conversation, lead and document). Times are fixed relative
to `now`: `noon(n)` is 12:00 UTC n days ago (n >= 1), so an event's calendar day never depends
on when the test runs. The numbers each analytics operation must show for it are written down
in the tests that use it (test_business_analytics.py).

Names used for ids (`feed["X"]`, `feed.at["m2"]`):
  users  admin (ada, admin), uma (user), ulf (user, deleted), ute (user, suspended)
  agents X "Sales Bot" (active, gemini-2.5-flash), Y "Support Bot" (inactive, gpt-4o-mini), Z (deleted)
  conversations c1 (X, uma, noon 3), c2 (X, lead L1, noon 2), c3 (Y, admin, noon 1),
                c4 (X, uma, noon 40), c5 (Y, uma, noon 2, deleted)
  messages m1..m10 live (5 user, 5 assistant), m11, m12 in c5
  feedback f1 (m2, 4), f2 (m4, 2, down), f3 (c2 whole, lead, 5), f4 (m8, thumbs up), f5 (c5, 1)
  leads L1 (X, c2, website, consent, new→contacted→converted), L2 (X, referral, →qualified),
        L3 (Y, website, consent, →lost), L4 (X, no source, noon 40), L5 (Y, deleted)
  documents D1 (uma, X, pdf 2 MiB, processed 1000 words 4 s), D2 (admin, X, docx 1 MiB, failed),
            D3 (uma, Y, pdf 512 KiB, processed 500 words 2 s), D4 (admin, deleted)
  keys K1 (active), K2 (revoked), K3 (expired)
  requests r1 (admin, now-1h), r2 (uma, now-2h), r3 (K1, 500), r4 (uma, 404), r5 (lead, 429), r6 (noon 40)
  database connections (all created by admin)
        DB1 "Shop" (X, postgresql, noon 20): tested ok by admin noon 2, analysed noon 2 (11 tables,
            15,607 rows), one table deleted noon 1 (10 tables, 15,000 rows); an analysis of noon 5
            (8 tables) arrives last and changes nothing
        DB2 "Legacy" (Y, mysql, noon 15), renamed "Legacy CRM" noon 2: tested failed by K1 noon 3,
            analysed noon 3 (3 tables, 300 rows)
        DB3 "Old" (X, sqlite, noon 30): tested ok noon 5, analysed noon 5 (2 tables), deleted noon 4
        DB4 "Reports" (X, mongodb, noon 8): deleted noon 6, restored noon 5, tested ok by admin noon 4
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from knowrithm_common.events import Actor, EventData, EventEnvelope, new_event
from knowrithm_common.events.agents import AgentConfiguration, AgentCreatedV1, AgentDeletedV1, AgentUpdatedV1
from knowrithm_common.events.auth import (
    ApiKeyCreatedV1,
    ApiKeyRevokedV1,
    AuditRecordedV1,
    CompanyCreatedV1,
    CompanyDeletedV1,
    UserRegisteredV1,
    UserUpdatedV1,
)
from knowrithm_common.events.conversations import (
    ConversationCreatedV1,
    ConversationDeletedV1,
    FeedbackGivenV1,
    LeadConvertedV1,
    LeadDeletedV1,
    LeadRegisteredV1,
    LeadUpdatedV1,
    MessageCreatedV1,
)
from knowrithm_common.events.gateway import ApiRequest, ApiRequestsRecordedV1
from knowrithm_common.events.ingestion import (
    DatabaseConnectionAnalyzedV1,
    DatabaseConnectionCreatedV1,
    DatabaseConnectionDeletedV1,
    DatabaseConnectionRestoredV1,
    DatabaseConnectionTestedV1,
    DatabaseConnectionUpdatedV1,
    DatabaseTablesDeletedV1,
    DocumentDeletedV1,
    DocumentFailedV1,
    DocumentProcessedV1,
    DocumentUploadedV1,
)

from .conftest import caught_up, publish

MIB = 1024 * 1024


def noon(now: dt.datetime, days_ago: int) -> dt.datetime:
    """12:00 UTC `days_ago` days before `now`'s day."""
    day = now.astimezone(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=days_ago)


@dataclass
class Feed:
    """One company's events, the ids they use (by name) and when the named things happened."""

    company_id: uuid.UUID
    now: dt.datetime
    events: list[EventEnvelope] = field(default_factory=list)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    at: dict[str, dt.datetime] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    request_ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> uuid.UUID:
        return self.ids[name]

    def id(self, name: str) -> uuid.UUID:
        return self.ids.setdefault(name, uuid.uuid4())

    def emit(
        self, data: EventData, *, source: str, at: dt.datetime, actor: Actor | None = None
    ) -> EventEnvelope:
        event = new_event(data, source=source, company_id=self.company_id, actor=actor)
        event = event.model_copy(update={"time": at})
        self.events.append(event)
        return event

    def noon(self, days_ago: int) -> dt.datetime:
        return noon(self.now, days_ago)


def _configuration(model: str) -> AgentConfiguration:
    return AgentConfiguration(
        settings_id=uuid.uuid4(),
        settings_level="company",
        llm_provider_id=uuid.uuid4(),
        llm_provider="offline",
        llm_model_id=uuid.uuid4(),
        llm_model=model,
        llm_api_base_url=None,
        llm_temperature=0.2,
        llm_max_tokens=512,
        embedding_provider_id=uuid.uuid4(),
        embedding_provider="offline",
        embedding_model_id=uuid.uuid4(),
        embedding_model="offline-embedder",
        embedding_api_base_url=None,
        embedding_dimension=384,
    )


def _people(feed: Feed, name: str) -> None:
    f = feed
    f.emit(
        CompanyCreatedV1(company_id=f.company_id, name=name, email=f"{f.company_id.hex}@example.com"),
        source="auth",
        at=f.noon(100),
    )
    for key, username, role, days in (
        ("admin", "ada", "admin", 95),
        ("uma", "uma", "user", 10),
        ("ulf", "ulf", "user", 10),
        ("ute", "ute", "user", 5),
    ):
        f.usernames[key] = f"{username}-{f.company_id.hex[:6]}"
        f.emit(
            UserRegisteredV1(
                user_id=f.id(key),
                company_id=f.company_id,
                email=f"{f.usernames[key]}@example.com",
                username=f.usernames[key],
                role=role,
            ),
            source="auth",
            at=f.noon(days),
        )
    f.emit(
        UserUpdatedV1(
            user_id=f["ulf"], company_id=f.company_id, change="deleted", status="active", role="user"
        ),
        source="auth",
        at=f.noon(4),
    )
    f.emit(
        UserUpdatedV1(
            user_id=f["ute"], company_id=f.company_id, change="status", status="suspended", role="user"
        ),
        source="auth",
        at=f.noon(4),
    )
    f.at["login_admin"] = f.now - dt.timedelta(minutes=30)
    logins = (
        ("admin", "10.0.0.1", f.at["login_admin"], "success"),
        ("uma", "10.0.0.2", f.noon(1), "success"),
        ("uma", "10.0.0.2", f.noon(2), "success"),
        ("ute", "10.0.0.9", f.noon(1), "failure"),
    )
    for key, ip, at, outcome in logins:
        f.emit(
            AuditRecordedV1(
                action="user.login",
                outcome=outcome,
                target_type="user",
                target_id=str(f[key]),
                reason="invalid_credentials" if outcome == "failure" else None,
            ),
            source="auth",
            at=at,
            actor=Actor(kind="user", id=f[key], ip=ip),
        )


def _agents(feed: Feed) -> None:
    f = feed
    for key, name, model, days in (
        ("X", "Sales Bot", "gemini-2.5-flash", 60),
        ("Y", "Support Bot", "gpt-4o-mini", 50),
        ("Z", "Old Bot", "gemini-2.5-flash", 40),
    ):
        f.emit(
            AgentCreatedV1(
                agent_id=f.id(key),
                company_id=f.company_id,
                name=name,
                status="active",
                configuration=_configuration(model),
            ),
            source="agents",
            at=f.noon(days),
        )
    f.emit(
        AgentUpdatedV1(
            agent_id=f["Y"],
            company_id=f.company_id,
            name="Support Bot",
            status="inactive",
            configuration=_configuration("gpt-4o-mini"),
        ),
        source="agents",
        at=f.noon(1),
    )
    f.emit(
        AgentDeletedV1(
            agent_id=f["Z"],
            company_id=f.company_id,
            name="Old Bot",
            status="active",
            configuration=_configuration("gemini-2.5-flash"),
        ),
        source="agents",
        at=f.noon(2),
    )


# (conversation, role, input tokens, output tokens, latency ms, model, minutes after the conversation started)
MESSAGES = {
    "m1": ("c1", "user", 10, 0, None, None, 0),
    "m2": ("c1", "assistant", 10, 40, 1000, "gemini-2.5-flash", 1),
    "m3": ("c1", "user", 5, 0, None, None, 2),
    "m4": ("c1", "assistant", 5, 50, 3000, "gemini-2.5-flash", 3),
    "m5": ("c2", "user", 8, 0, None, None, 0),
    "m6": ("c2", "assistant", 8, 32, 2000, "gemini-2.5-flash", 1),
    "m7": ("c3", "user", 4, 0, None, None, 0),
    "m8": ("c3", "assistant", 4, 16, 500, "gpt-4o-mini", 1),
    "m9": ("c4", "user", 6, 0, None, None, 0),
    "m10": ("c4", "assistant", 6, 24, 1500, "gemini-2.5-flash", 1),
    "m11": ("c5", "user", 100, 0, None, None, 0),
    "m12": ("c5", "assistant", 100, 100, 9000, "gpt-4o-mini", 1),
}


def _conversations(feed: Feed) -> None:
    f = feed
    f.id("L1")
    for key, agent, entity_type, entity, days in (
        ("c1", "X", "user", "uma", 3),
        ("c2", "X", "lead", "L1", 2),
        ("c3", "Y", "user", "admin", 1),
        ("c4", "X", "user", "uma", 40),
        ("c5", "Y", "user", "uma", 2),
    ):
        f.at[key] = f.noon(days)
        f.emit(
            ConversationCreatedV1(
                conversation_id=f.id(key), agent_id=f[agent], entity_type=entity_type, entity_id=f[entity]
            ),
            source="conversations",
            at=f.at[key],
        )
    for key, (conversation, role, tokens_in, tokens_out, latency, model, minutes) in MESSAGES.items():
        f.at[key] = f.at[conversation] + dt.timedelta(minutes=minutes)
        agent = {"c1": "X", "c2": "X", "c3": "Y", "c4": "X", "c5": "Y"}[conversation]
        f.emit(
            MessageCreatedV1(
                message_id=f.id(key),
                conversation_id=f[conversation],
                agent_id=f[agent],
                role=role,
                status="complete",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                latency_ms=latency,
                model=model,
            ),
            source="conversations",
            at=f.at[key],
        )
    for key, conversation, message, agent, entity, rating, thumbs in (
        ("f1", "c1", "m2", "X", "user", 4, None),
        ("f2", "c1", "m4", "X", "user", 2, "down"),
        ("f3", "c2", None, "X", "lead", 5, None),
        ("f4", "c3", "m8", "Y", "user", None, "up"),
        ("f5", "c5", "m12", "Y", "user", 1, None),
    ):
        at = f.at[conversation] + dt.timedelta(minutes=10)
        f.emit(
            FeedbackGivenV1(
                feedback_id=f.id(key),
                conversation_id=f[conversation],
                message_id=f[message] if message else None,
                agent_id=f[agent],
                entity_type=entity,
                rating=rating,
                thumbs=thumbs,
            ),
            source="conversations",
            at=at,
        )
    f.emit(
        ConversationDeletedV1(conversation_id=f["c5"], agent_id=f["Y"]), source="conversations", at=f.noon(1)
    )


def _leads(feed: Feed) -> None:
    f = feed
    for key, agent, conversation, channel, source, consent, days in (
        ("L1", "X", "c2", "widget", "website", True, 2),
        ("L2", "X", None, "admin", "referral", False, 5),
        ("L3", "Y", None, "widget", "website", True, 6),
        ("L4", "X", None, "admin", None, False, 40),
        ("L5", "Y", None, "widget", "website", True, 3),
    ):
        f.at[key] = f.noon(days)
        f.emit(
            LeadRegisteredV1(
                lead_id=f.id(key),
                agent_id=f[agent],
                conversation_id=f[conversation] if conversation else None,
                channel=channel,
                source=source,
                status="new",
                consent_marketing=consent,
            ),
            source="conversations",
            at=f.at[key],
        )
    f.emit(
        LeadUpdatedV1(lead_id=f["L1"], status="contacted", previous_status="new", changed=["status"]),
        source="conversations",
        at=f.noon(2) + dt.timedelta(hours=1),
    )
    f.at["L1_converted"] = f.noon(1)
    f.emit(
        LeadConvertedV1(lead_id=f["L1"], agent_id=f["X"], previous_status="contacted"),
        source="conversations",
        at=f.at["L1_converted"],
    )
    f.emit(
        LeadUpdatedV1(lead_id=f["L2"], status="qualified", previous_status="new", changed=["status"]),
        source="conversations",
        at=f.noon(4),
    )
    f.emit(
        LeadUpdatedV1(lead_id=f["L3"], status="lost", previous_status="new", changed=["status"]),
        source="conversations",
        at=f.noon(5),
    )
    f.emit(LeadDeletedV1(lead_id=f["L5"]), source="conversations", at=f.noon(2))


def _documents(feed: Feed) -> None:
    f = feed
    for key, uploader, agent, kind, size, days in (
        ("D1", "uma", "X", "pdf", 2 * MIB, 3),
        ("D2", "admin", "X", "docx", MIB, 2),
        ("D3", "uma", "Y", "pdf", MIB // 2, 1),
        ("D4", "admin", None, "pdf", 1000, 1),
    ):
        f.at[key] = f.noon(days)
        f.emit(
            DocumentUploadedV1(
                document_id=f.id(key),
                agent_id=f[agent] if agent else None,
                original_filename=f"{key}.{kind}",
                document_type=kind,
                file_size=size,
                source="upload",
            ),
            source="ingestion",
            at=f.at[key],
            actor=Actor(kind="user", id=f[uploader]),
        )
    for key, words, duration in (("D1", 1000, 4000), ("D3", 500, 2000)):
        f.at[f"{key}_processed"] = f.at[key] + dt.timedelta(minutes=5)
        agent = f["X"] if key == "D1" else f["Y"]
        f.emit(
            DocumentProcessedV1(
                document_id=f[key],
                agent_id=agent,
                document_type="pdf",
                page_count=3,
                chunk_count=7,
                word_count=words,
                embedding_model="offline-embedder",
                duration_ms=duration,
            ),
            source="ingestion",
            at=f.at[f"{key}_processed"],
        )
    f.emit(
        DocumentFailedV1(
            document_id=f["D2"],
            agent_id=f["X"],
            document_type="docx",
            code="extraction_failed",
            reason="The file could not be read",
        ),
        source="ingestion",
        at=f.at["D2"] + dt.timedelta(minutes=5),
    )
    f.emit(
        DocumentDeletedV1(document_id=f["D4"], agent_id=None),
        source="ingestion",
        at=f.at["D4"] + dt.timedelta(hours=1),
    )


def _usage(feed: Feed) -> None:
    f = feed
    for key, days in (("K1", 20), ("K2", 20), ("K3", 20)):
        expires = f.noon(1) if key == "K3" else None
        f.emit(
            ApiKeyCreatedV1(
                api_key_id=f.id(key),
                company_id=f.company_id,
                user_id=f["admin"],
                name=key,
                scopes=["read"],
                key_prefix=f"kn_{key}",
                expires_at=expires,
            ),
            source="auth",
            at=f.noon(days),
        )
    f.emit(
        ApiKeyRevokedV1(api_key_id=f["K2"], company_id=f.company_id, key_hash="x" * 64),
        source="auth",
        at=f.noon(3),
    )
    rows = (
        (
            "r1",
            f.now - dt.timedelta(hours=1),
            "admin",
            None,
            "user",
            "GET",
            "/api/v1/agent",
            200,
            100.0,
            "10.0.0.1",
        ),
        (
            "r2",
            f.now - dt.timedelta(hours=2),
            "uma",
            None,
            "user",
            "GET",
            "/api/v1/agent",
            200,
            300.0,
            "10.0.0.2",
        ),
        (
            "r3",
            f.noon(2),
            "admin",
            "K1",
            "api_key",
            "POST",
            "/api/v1/document/upload",
            500,
            1000.0,
            "10.0.0.3",
        ),
        ("r4", f.noon(2), "uma", None, "user", "GET", "/api/v1/agent/{agent_id}", 404, 50.0, "10.0.0.2"),
        (
            "r5",
            f.noon(3),
            None,
            None,
            "lead",
            "POST",
            "/api/v1/conversation/{conversation_id}/chat",
            429,
            10.0,
            "10.0.0.4",
        ),
        ("r6", f.noon(40), "admin", None, "user", "GET", "/api/v1/agent", 200, 40.0, "10.0.0.1"),
    )
    requests = []
    for key, at, user, api_key, credential, method, route, status, latency, ip in rows:
        f.at[key] = at
        request_id = f.request_ids[key] = f"req-{f.company_id.hex[:12]}-{key}"
        requests.append(
            ApiRequest(
                id=request_id,
                time=at,
                company_id=f.company_id,
                user_id=f[user] if user else None,
                api_key_id=f[api_key] if api_key else None,
                credential=credential,
                method=method,
                route=route,
                status=status,
                latency_ms=latency,
                rate_limited=status == 429,
                ip=ip,
            )
        )
    f.emit(ApiRequestsRecordedV1(requests=requests), source="gateway", at=f.now - dt.timedelta(minutes=59))


def _databases(feed: Feed) -> None:
    f = feed
    admin = Actor(kind="user", id=f["admin"])
    for key, name, agent, engine, days in (
        ("DB1", "Shop", "X", "postgresql", 20),
        ("DB2", "Legacy", "Y", "mysql", 15),
        ("DB3", "Old", "X", "sqlite", 30),
        ("DB4", "Reports", "X", "mongodb", 8),
    ):
        created = DatabaseConnectionCreatedV1(
            database_connection_id=f.id(key), agent_id=f[agent], name=name, database_type=engine,
            host=None if engine == "sqlite" else "db.example.com", database="shop",
        )  # fmt: skip
        f.emit(created, source="ingestion", at=f.noon(days), actor=admin)

    def ref(key: str) -> dict[str, uuid.UUID]:
        return {"database_connection_id": f[key], "agent_id": f["Y" if key == "DB2" else "X"]}

    def tested(key: str, valid: bool, days: int, actor: Actor) -> None:
        f.at[f"{key}_tested"] = f.noon(days) + dt.timedelta(hours=1)
        f.emit(DatabaseConnectionTestedV1(**ref(key), is_valid=valid), source="ingestion",
               at=f.at[f"{key}_tested"], actor=actor)  # fmt: skip

    def analysed(key: str, days: int, tables: int, rows: int) -> None:
        data = DatabaseConnectionAnalyzedV1(**ref(key), table_count=tables, tables_added=tables, total_rows=rows)
        f.emit(data, source="ingestion", at=f.noon(days) + dt.timedelta(hours=2), actor=admin)

    tested("DB1", True, 2, admin)
    analysed("DB1", 2, 11, 15_607)
    f.emit(
        DatabaseTablesDeletedV1(**ref("DB1"), table_ids=[uuid.uuid4()], table_count=10, total_rows=15_000),
        source="ingestion", at=f.noon(1), actor=admin,
    )  # fmt: skip
    f.emit(
        DatabaseConnectionUpdatedV1(**ref("DB2"), name="Legacy CRM", database_type="mysql", fields=["name"]),
        source="ingestion", at=f.noon(2), actor=admin,
    )  # fmt: skip
    tested("DB2", False, 3, Actor(kind="api_key", id=f["K1"]))
    analysed("DB2", 3, 3, 300)
    tested("DB3", True, 5, admin)
    analysed("DB3", 5, 2, 40)
    f.emit(DatabaseConnectionDeletedV1(**ref("DB3")), source="ingestion", at=f.noon(4), actor=admin)
    f.emit(DatabaseConnectionDeletedV1(**ref("DB4")), source="ingestion", at=f.noon(6), actor=admin)
    f.emit(DatabaseConnectionRestoredV1(**ref("DB4")), source="ingestion", at=f.noon(5), actor=admin)
    tested("DB4", True, 4, admin)
    analysed("DB1", 5, 8, 900)  # older than the deletion of noon 1: arrives late, changes nothing


def company_feed(name: str = "Acme Analytics", *, now: dt.datetime | None = None) -> Feed:
    """A whole company's known history (see the module docstring)."""
    feed = Feed(company_id=uuid.uuid4(), now=now or dt.datetime.now(dt.UTC))
    _people(feed, name)
    _agents(feed)
    _conversations(feed)
    _leads(feed)
    _documents(feed)
    _usage(feed)
    _databases(feed)
    return feed


def company_deleted(feed: Feed) -> EventEnvelope:
    """The company's deletion (appended to its events)."""
    return feed.emit(
        CompanyDeletedV1(company_id=feed.company_id), source="auth", at=feed.now - dt.timedelta(minutes=1)
    )


async def publish_feeds(app, feeds: Iterable[Feed]) -> None:
    """Publish every event of `feeds` and wait until the projections have applied them."""
    for feed in feeds:
        for event in feed.events:
            await publish(app, event)
    await caught_up(app)
