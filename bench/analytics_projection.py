"""Analytics projections: events projected per second end to end, and the projection lag.

Starts its own embedded PostgreSQL, NATS and Redis (throwaway data), migrates a fresh
analytics database per mode, and publishes a realistic mix of envelopes of every family
(sign-ups, logins and other audit records, agents, conversations, messages, leads, feedback,
documents, batches of 20 API requests) to the EVENTS stream while a fresh consumer runs:

- throughput: N events published as fast as JetStream takes them; events/s = N / (first
  publish → last event applied);
- lag: events published at a steady `--rate` for `--lag-seconds`; lag = applied - published,
  p50/p95 (applied = the commit of the transaction that applied the event).

Events are published by a separate process (producers are other services), serialised
beforehand. Modes, side by side in one run: the live consumer with one transaction per event
(EventConsumer's default) and with one transaction per fetched batch
(`transaction_per_batch=True`, batches of up to 256), the rebuild's replay path (the same
handlers, 500 events per transaction, an ephemeral consumer without acks), and raw baselines
of the parts underneath: JetStream alone (publish, then fetch, parse, ack; no database) and
PostgreSQL alone (one processed-event row per event, inserted 500 per transaction by plain
psycopg).

Usage (from the repo root):
    python3 -m uv run --frozen python bench/analytics_projection.py [--events 20000] [--rate 1000]
        [--lag-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from nats import connect as nats_connect
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.models import SCHEMA, shared
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_analytics.projections.replay import apply_batch
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.db.session import Database
from knowrithm_common.events import Actor, EventData, EventEnvelope, auth, new_event
from knowrithm_common.events import agents as ag
from knowrithm_common.events import conversations as cv
from knowrithm_common.events import gateway as gw
from knowrithm_common.events import ingestion as ing
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.consumer import EventConsumer, Handler
from knowrithm_stack.launcher import Stack

COMPANIES = 40
BATCH = 500


# --- a realistic feed ----------------------------------------------------------------------------


@dataclass
class Tenant:
    company: uuid.UUID
    users: list[uuid.UUID]
    agents: list[uuid.UUID]
    key: uuid.UUID
    conversations: list[uuid.UUID]
    leads: list[uuid.UUID]
    documents: list[uuid.UUID]


def _env(
    data: EventData, source: str, company: uuid.UUID | None, actor: uuid.UUID | None = None
) -> EventEnvelope:
    who = Actor(kind="user", id=actor, ip="203.0.113.7", user_agent="bench") if actor else Actor()
    return new_event(data, source=source, company_id=company, actor=who)


def _agent(
    t: Tenant, agent: uuid.UUID, cls: type[ag.AgentCreatedV1] | type[ag.AgentUpdatedV1], n: int
) -> EventData:
    return cls(agent_id=agent, company_id=t.company, name=f"Agent {n}", status="active")


def _onboard(rng: random.Random) -> tuple[Tenant, list[EventEnvelope]]:
    company = uuid.uuid4()
    t = Tenant(
        company, [uuid.uuid4() for _ in range(3)], [uuid.uuid4() for _ in range(2)], uuid.uuid4(), [], [], []
    )
    events = [
        _env(auth.CompanyCreatedV1(company_id=company, name="Acme", email="a@example.com"), "auth", company)
    ]
    for i, user in enumerate(t.users):
        data = auth.UserRegisteredV1(
            user_id=user,
            company_id=company,
            email=f"u{i}@example.com",
            username=f"u{i}-{company.hex[:6]}",
            role="admin" if i == 0 else "user",
        )
        events.append(_env(data, "auth", company))
    for i, agent in enumerate(t.agents):
        events.append(_env(_agent(t, agent, ag.AgentCreatedV1, i), "agents", company, t.users[0]))
    key = auth.ApiKeyCreatedV1(
        api_key_id=t.key,
        company_id=company,
        user_id=t.users[0],
        name="k",
        scopes=["read"],
        key_prefix="kr_abc",
        rate_limit_per_hour=1000,
        rate_limit_per_day=10000,
    )
    events.append(_env(key, "auth", company, t.users[0]))
    return t, events


def _activity(t: Tenant, rng: random.Random) -> Iterator[EventEnvelope]:
    """One activity step: weighted like a busy chat platform (messages dominate)."""
    roll = rng.random()
    user, agent = rng.choice(t.users), rng.choice(t.agents)
    if roll < 0.10 or not t.conversations:
        conversation = uuid.uuid4()
        t.conversations.append(conversation)
        data: EventData = cv.ConversationCreatedV1(
            conversation_id=conversation, agent_id=agent, entity_type="user", entity_id=user
        )
        yield _env(data, "conversations", t.company, user)
    elif roll < 0.55:
        conversation = rng.choice(t.conversations)
        for role in ("user", "assistant"):
            tokens = (rng.randint(20, 400), rng.randint(50, 800)) if role == "assistant" else (0, 0)
            data = cv.MessageCreatedV1(
                message_id=uuid.uuid4(),
                conversation_id=conversation,
                agent_id=agent,
                role=role,
                status="complete",
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                latency_ms=rng.randint(300, 4000) if role == "assistant" else None,
                model="gemini-2.5-flash" if role == "assistant" else None,
            )
            yield _env(data, "conversations", t.company, user)
    elif roll < 0.60:
        data = cv.FeedbackGivenV1(
            feedback_id=uuid.uuid4(),
            conversation_id=rng.choice(t.conversations),
            agent_id=agent,
            entity_type="user",
            rating=rng.randint(1, 5),
            thumbs=rng.choice(["up", "down", None]),
        )
        yield _env(data, "conversations", t.company, user)
    elif roll < 0.66:
        lead = uuid.uuid4()
        t.leads.append(lead)
        yield _env(
            cv.LeadRegisteredV1(
                lead_id=lead, agent_id=agent, channel="widget", status="new", source="website"
            ),
            "conversations",
            t.company,
        )
    elif roll < 0.70 and t.leads:
        lead = rng.choice(t.leads)
        yield _env(
            cv.LeadUpdatedV1(lead_id=lead, status="qualified", previous_status="new", changed=["status"]),
            "conversations",
            t.company,
            user,
        )
        if rng.random() < 0.3:
            yield _env(
                cv.LeadConvertedV1(lead_id=lead, agent_id=agent, previous_status="qualified"),
                "conversations",
                t.company,
                user,
            )
    elif roll < 0.76:
        document = uuid.uuid4()
        t.documents.append(document)
        yield _env(
            ing.DocumentUploadedV1(
                document_id=document,
                agent_id=agent,
                original_filename="a.pdf",
                document_type="pdf",
                file_size=120_000,
                source="upload",
            ),
            "ingestion",
            t.company,
            user,
        )
        yield _env(
            ing.DocumentProcessedV1(
                document_id=document,
                agent_id=agent,
                document_type="pdf",
                page_count=4,
                chunk_count=12,
                word_count=2400,
                embedding_model="offline",
                duration_ms=900,
            ),
            "ingestion",
            t.company,
        )
    elif roll < 0.82:
        now = dt.datetime.now(dt.UTC)
        requests = [
            gw.ApiRequest(
                id=uuid.uuid4().hex,
                time=now,
                company_id=t.company,
                api_key_id=t.key,
                credential="api_key",
                method="GET",
                route="/api/v1/agent/{agent_id}",
                status=rng.choice([200, 200, 200, 404, 429]),
                latency_ms=rng.uniform(2, 80),
                ip="203.0.113.7",
            )
            for _ in range(20)
        ]
        yield _env(gw.ApiRequestsRecordedV1(requests=requests), "gateway", None)
    elif roll < 0.97:
        data = auth.AuditRecordedV1(
            action="user.login",
            outcome=rng.choice(["success"] * 9 + ["failure"]),
            target_type="user",
            target_id=str(user),
        )
        yield _env(data, "auth", t.company, user)
    elif roll < 0.99:
        yield _env(_agent(t, agent, ag.AgentUpdatedV1, rng.randint(1, 9)), "agents", t.company, user)
    else:
        yield _env(
            auth.UserUpdatedV1(
                user_id=user, company_id=t.company, change="role", status="active", role="admin"
            ),
            "auth",
            t.company,
            t.users[0],
        )


def mixed_events(count: int, seed: int = 7) -> list[EventEnvelope]:
    """`count` envelopes of every family, for COMPANIES companies, in a plausible order."""
    rng = random.Random(seed)
    tenants, events = [], []
    for _ in range(COMPANIES):
        tenant, onboarding = _onboard(rng)
        tenants.append(tenant)
        events += onboarding
    while len(events) < count:
        events += _activity(rng.choice(tenants), rng)
    return events[:count]


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    events: int
    seconds: float
    lag_p50: float | None = None
    lag_p95: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _publisher(nats_url: str, payloads: list[tuple[str, str, bytes]], rate: float | None, out: Any) -> None:
    """A producer process: publish (id, subject, payload) as fast as acked, or at `rate`/s."""

    async def publish() -> dict[str, float]:
        nc = await nats_connect(nats_url)
        js = nc.jetstream()
        sent: dict[str, float] = {}
        start = time.perf_counter()
        step = 100 if rate is None else max(1, int(rate / 100))  # paced: a small group every 10 ms
        for i in range(0, len(payloads), step):
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            chunk = payloads[i : i + step]
            now = time.time()
            sent.update((event_id, now) for event_id, _, _ in chunk)
            await asyncio.gather(
                *(
                    js.publish(subject, data, headers={"Nats-Msg-Id": event_id})
                    for event_id, subject, data in chunk
                )
            )
        await nc.close()
        return sent

    out.put(asyncio.run(publish()))


async def _publish(
    nats_url: str, events: list[EventEnvelope], *, rate: float | None = None
) -> dict[str, float]:
    """Publish `events` with fresh ids from another process (producers are other services); id → time sent."""
    payloads = []
    for e in events:
        fresh = e.model_copy(update={"id": str(uuid.uuid4()), "time": dt.datetime.now(dt.UTC)})
        payloads.append((fresh.id, fresh.subject, fresh.model_dump_json().encode()))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_publisher, args=(nats_url, payloads, rate, out))
    process.start()
    sent: dict[str, float] = await asyncio.to_thread(out.get)
    await asyncio.to_thread(process.join)
    return sent


class Commits:
    """When each event's transaction committed (stamped by an after-commit hook around the handlers)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def wrap(self, handlers: dict[str, Handler]) -> dict[str, Handler]:
        return {event_type: self._stamped(handler) for event_type, handler in handlers.items()}

    def _stamped(self, handler: Handler) -> Handler:
        async def stamped(session: AsyncSession, event: EventEnvelope) -> None:
            await handler(session, event)
            pending = session.info.get("bench.ids")
            if pending is None:
                pending = session.info["bench.ids"] = []
                sa_event.listen(session.sync_session, "after_commit", self._commit)
            pending.append(event.id)

        return stamped

    def _commit(self, sync_session: Any) -> None:
        now = time.time()
        for event_id in sync_session.info.pop("bench.ids", ()):
            self.at.setdefault(event_id, now)

    async def wait(self, sent_ids: Any, count: int, timeout: float = 600) -> float:
        """The time the last of `count` events committed."""
        deadline = time.monotonic() + timeout
        while len(self.at) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.at)}/{count} applied")
            await asyncio.sleep(0.01)
        return max(self.at.values())


async def live_consumer(
    stack: Stack,
    nats: NatsConnection,
    events: list[EventEnvelope],
    *,
    rate: float | None,
    label: str,
    **options: Any,
) -> Result:
    """The service's consumer on a fresh database: publish while it runs; time until all applied."""
    url = stack.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    upgrade(package="knowrithm_analytics", schema=SCHEMA, url=url)
    db = Database(url, schema=SCHEMA)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    commits = Commits()
    consumer = EventConsumer(
        db=db,
        processed=shared.processed,
        nats=nats,
        durable=name,
        filter_subject="events.>",
        handlers=commits.wrap(HANDLERS),
        only_new=True,
        **options,
    )
    await consumer.start()
    await consumer.wait_subscribed()
    try:
        sent = await _publish(nats.url, events, rate=rate)
        end = await commits.wait(sent, len(events))
        start = min(sent.values())
        lags = [commits.at[event_id] - published for event_id, published in sent.items()]
    finally:
        await consumer.stop()
        await nats.js.delete_consumer("EVENTS", name)
        await db.dispose()
    return Result(label, len(events), end - start, _percentile(lags, 50), _percentile(lags, 95))


async def replay_path(stack: Stack, nats: NatsConnection, events: list[EventEnvelope]) -> Result:
    """The rebuild's path: an ephemeral consumer, the same handlers, BATCH events per transaction."""
    url = stack.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    upgrade(package="knowrithm_analytics", schema=SCHEMA, url=url)
    db = Database(url, schema=SCHEMA)
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE, inactive_threshold=60
    )
    sub = await nats.js.pull_subscribe("events.>", durable=None, stream="EVENTS", config=config)

    async def consume() -> float:
        done = 0
        while done < len(events):
            try:
                messages = await sub.fetch(BATCH, timeout=1)
            except TimeoutError:
                continue
            batch = [EventEnvelope.model_validate_json(m.data) for m in messages]
            await apply_batch(db, batch, handlers=HANDLERS, processed=shared.processed, consumer="replay")
            done += len(batch)
        return time.time()

    task = asyncio.create_task(consume())
    start = min((await _publish(nats.url, events)).values())
    end = await task
    await sub.unsubscribe()
    await db.dispose()
    return Result("replay path (rebuild): 500 events per transaction", len(events), end - start)


async def nats_only(nats: NatsConnection, events: list[EventEnvelope]) -> Result:
    """Baseline: a durable pull consumer that fetches, parses and acks; no database."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    config = ConsumerConfig(
        durable_name=name,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        max_ack_pending=1000,
    )
    sub = await nats.js.pull_subscribe("events.>", durable=name, stream="EVENTS", config=config)

    async def consume() -> float:
        done = 0
        while done < len(events):
            try:
                messages = await sub.fetch(64, timeout=1)
            except TimeoutError:
                continue
            for m in messages:
                EventEnvelope.model_validate_json(m.data)
                await m.ack()
            done += len(messages)
        return time.time()

    task = asyncio.create_task(consume())
    start = min((await _publish(nats.url, events)).values())
    end = await task
    await sub.unsubscribe()
    await nats.js.delete_consumer("EVENTS", name)
    return Result("baseline: JetStream only (fetch, parse, ack)", len(events), end - start)


def postgres_only(stack: Stack, events: list[EventEnvelope]) -> Result:
    """Baseline: one processed-event row per event, BATCH per transaction, plain psycopg."""
    url = stack.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    upgrade(package="knowrithm_analytics", schema=SCHEMA, url=url)
    sql = f"insert into {SCHEMA}.processed_events (consumer, event_id) values (%s, %s) on conflict do nothing"
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(events), BATCH):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, [("raw", e.id) for e in events[i : i + BATCH]])
        seconds = time.perf_counter() - start
    return Result("baseline: PostgreSQL only (1 row per event, psycopg)", len(events), seconds)


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"{args.events:,} mixed events; lag at a steady {args.rate:,.0f} events/s"
        f" for {args.lag_seconds:.0f} s",
        "",
        "| mode | events/s | lag p50 ms | lag p95 ms |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        p50 = "" if r.lag_p50 is None else f"{r.lag_p50 * 1000:,.1f}"
        p95 = "" if r.lag_p95 is None else f"{r.lag_p95 * 1000:,.1f}"
        lines.append(f"| {r.mode} | {r.rate:,.0f} | {p50} | {p95} |")
    return "\n".join(lines)


async def run(stack: Stack, args: argparse.Namespace) -> list[Result]:
    nats = NatsConnection(stack.nats_url, name="bench")
    await nats.start()
    await nats.wait_connected(timeout=10)
    events = mixed_events(args.events)
    paced = mixed_events(int(args.rate * args.lag_seconds), seed=11)
    results: list[Result] = []
    modes: list[tuple[str, dict[str, Any]]] = [
        ("live consumer: 1 transaction per event", {}),
        ("live consumer: 1 transaction per batch of 256", {"transaction_per_batch": True, "batch": 256}),
    ]
    try:
        for label, options in modes:
            burst = await live_consumer(stack, nats, events, rate=None, label=label, **options)
            steady = await live_consumer(stack, nats, paced, rate=args.rate, label=label, **options)
            results.append(
                Result(label + " (burst)", burst.events, burst.seconds, burst.lag_p50, burst.lag_p95)
            )
            results.append(
                Result(label + " (steady)", steady.events, steady.seconds, steady.lag_p50, steady.lag_p95)
            )
            print(results[-2], results[-1], flush=True)
        results.append(await replay_path(stack, nats, events))
        results.append(await nats_only(nats, events))
        results.append(postgres_only(stack, events))
    finally:
        await nats.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the lag measurement")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("KNOWRITHM_ENV", "development")
    AnalyticsSettings()  # the same settings class as the service (nothing else read here)
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-") as tmp:
        ports = dict.fromkeys(("postgres", "nats", "nats-monitor", "redis"), 0)
        stack = Stack(Path(tmp) / "stack", ports=ports, durable=False)
        stack.start(timeout=60)
        try:
            results = asyncio.run(run(stack, args))
        finally:
            stack.stop()
    print(report(results, args))


if __name__ == "__main__":
    main()
