"""Helpers of the ingestion tests: principals, agents in the projection, uploads, polling, and
what the database sees."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import text

from knowrithm_common.identity import Principal


def admin(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="admin")


def member(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="user")


def agent_snapshot(*, company_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None,
                   widget_config: dict | None = None, model: str = "offline-embedder", provider: str = "offline",
                   dimension: int = 384, status: str = "active", configured: bool = True):
    """An agent as the agents service describes it (events and its state query), on the offline models
    (`configured` False: an agent without LLM and embedding settings)."""
    from knowrithm_common.events.agents import AgentConfiguration, AgentSnapshot

    agent_id = agent_id or uuid.uuid4()
    config = AgentConfiguration(
        settings_id=uuid.uuid4(), settings_level="company", llm_provider_id=uuid.uuid4(), llm_provider="offline",
        llm_model_id=uuid.uuid4(), llm_model="extractive-responder", llm_api_base_url=None, llm_temperature=0.2,
        llm_max_tokens=512, embedding_provider_id=uuid.uuid4(), embedding_provider=provider,
        embedding_model_id=uuid.uuid4(), embedding_model=model, embedding_api_base_url=None,
        embedding_dimension=dimension,
    )
    return AgentSnapshot(agent_id=agent_id, company_id=company_id or uuid.uuid4(), name=f"agent-{agent_id.hex[:6]}",
                         status=status, widget_config=widget_config or {},
                         configuration=config if configured else None)


async def add_agent(app, *, company_id: uuid.UUID | None = None, widget_config: dict | None = None,
                    model: str = "offline-embedder", provider: str = "offline", dimension: int = 384,
                    configured: bool = True):
    """Apply an agents.agent.created.v1 event to the projection, as the consumer would."""
    from knowrithm_common.events import new_event
    from knowrithm_common.events.agents import AgentCreatedV1

    snapshot = agent_snapshot(company_id=company_id, widget_config=widget_config, model=model, provider=provider,
                              dimension=dimension, configured=configured)
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    return snapshot.company_id, snapshot.agent_id


async def delete_agent(app, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    """Apply an agents.agent.deleted.v1 event to the projection, as the consumer would."""
    from knowrithm_common.events import new_event
    from knowrithm_common.events.agents import AgentDeletedV1

    snapshot = agent_snapshot(company_id=company_id, agent_id=agent_id)
    envelope = new_event(AgentDeletedV1(**snapshot.model_dump()), source="agents", company_id=company_id)
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


async def upload(call, principal, agent_id, files, **data):
    """POST /api/v1/document/upload with multipart `files` (name, bytes, content type)."""
    multipart = [("files", f) for f in files]
    return await call("POST", "/api/v1/document/upload", principal, data={"agent_id": str(agent_id), **data},
                      files=multipart)


async def idle_transactions(db, *, begun_after: float, idle_before: float) -> list[str]:
    """The last statements of this database's connections that sit idle in a transaction begun after
    `begun_after` and idle since before `idle_before` (epoch seconds): a transaction waiting on
    something outside the database, such as a download."""
    query = text(
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND state = 'idle in transaction' AND xact_start >= to_timestamp(:begun)"
        " AND state_change <= to_timestamp(:idle)"
    )
    async with db.sessions() as session:
        return list((await session.execute(query, {"begun": begun_after, "idle": idle_before})).scalars())


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll an async predicate until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def apply_agent_event(session, envelope) -> None:
    """Apply an agent event to the projection, as its consumer would (the projection's handlers)."""
    from knowrithm_ingestion.agents.projection import HANDLERS

    await HANDLERS[envelope.type](session, envelope)


DATABASE_CONNECTIONS = "/api/v1/database-connection"


async def create_connection(call, principal, agent_id, *, database_type: str, url: str | None = None,
                            file: bytes | None = None) -> str:
    """A database connection made through the API (a SQLite `file` is uploaded); its id."""
    import uuid as _uuid

    name = f"chinook {_uuid.uuid4().hex[:6]}"
    if file is not None:
        form = {"name": name, "database_type": database_type, "agent_id": str(agent_id)}
        r = await call("POST", DATABASE_CONNECTIONS, principal, data=form, files={"file": ("chinook.sqlite", file)})
    else:
        body = {"name": name, "database_type": database_type, "url": url, "agent_id": str(agent_id)}
        r = await call("POST", DATABASE_CONNECTIONS, principal, json=body)
    assert r.status_code == 201, r.text
    return r.json()["connection"]["id"]
