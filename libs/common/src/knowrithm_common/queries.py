"""Request and reply models of the queries services make of each other over NATS
(`knowrithm_common.messaging.rpc`). Like events, a breaking change makes a new version."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeAlias, TypeVar

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.errors import KnowrithmError
from knowrithm_common.events.agents import (
    AgentCreatedV1,
    AgentDeletedV1,
    AgentRestoredV1,
    AgentSnapshot,
    AgentUpdatedV1,
)
from knowrithm_common.events.envelope import EventEnvelope
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import call
from knowrithm_common.projections import OwnerFallback

AGENT_CREDENTIALS_SUBJECT = "rpc.agents.credentials.v1"
AGENT_STATE_SUBJECT = "rpc.agents.agent.v1"
INGESTION_SEARCH_SUBJECT = "rpc.ingestion.search.v1"
DATABASE_QUERY_SUBJECT = "rpc.ingestion.database.query.v1"
DATABASE_CATALOG_SUBJECT = "rpc.ingestion.database.catalog.v1"


class AgentCredentialsRequest(BaseModel):
    """The decrypted provider keys an agent's effective settings hold (service to service only)."""

    company_id: uuid.UUID
    agent_id: uuid.UUID


class AgentCredentialsReply(BaseModel):
    settings_id: uuid.UUID | None = None
    llm_api_key: str | None = Field(None, repr=False)
    embedding_api_key: str | None = Field(None, repr=False)


class AgentStateRequest(BaseModel):
    """An agent's current state, for a projection that has not seen it (yet) or holds a refusal."""

    agent_id: uuid.UUID


class AgentStateReply(BaseModel):
    """The agent as its latest event describes it; `agent` null when no such agent exists."""

    agent: AgentSnapshot | None = None
    deleted: bool = Field(False, description="soft-deleted (restorable): apply like agents.agent.deleted.v1")
    version: dt.datetime | None = Field(
        None, description="time of the agent event this state is (compared like an event's time)"
    )


class SearchRequest(BaseModel):
    """Hybrid search of one company's knowledge, optionally of one agent."""

    company_id: uuid.UUID
    query: str = Field(min_length=1, max_length=4000)
    agent_id: uuid.UUID | None = None
    limit: int = Field(10, ge=1, le=50)


class SearchResult(BaseModel):
    id: uuid.UUID = Field(description="chunk id")
    document_id: uuid.UUID
    agent_id: uuid.UUID
    chunk_index: int
    page: int | None
    content: str
    score: float
    document_name: str = Field(description="the document's original file name, or the page URL")
    document_type: str
    source_url: str | None = None
    embedding_model: str
    word_count: int
    created_at: str | None = None


class SearchReply(BaseModel):
    query: str
    results: list[SearchResult]
    total_results: int
    execution_time: float = Field(description="seconds")


class DatabaseCatalogRequest(BaseModel):
    """The databases an agent may answer from (chat's `query_database` tool)."""

    company_id: uuid.UUID
    agent_id: uuid.UUID


class CatalogColumn(BaseModel):
    name: str
    type: str


class CatalogTable(BaseModel):
    name: str
    schema_name: str = Field("", description="empty where the engine has no schemas")
    summary: str | None = None
    columns: list[CatalogColumn]


class CatalogConnection(BaseModel):
    connection_id: uuid.UUID
    name: str
    dialect: str = Field(description="postgresql, cockroachdb, mysql, sqlite or mssql")
    tables: list[CatalogTable]


class DatabaseCatalogReply(BaseModel):
    """The agent's live SQL connections that an analysis found tables in, with those tables."""

    connections: list[CatalogConnection]


class DatabaseQueryRequest(BaseModel):
    """One SQL statement a model wants run on one of its agent's connections (through the guard).

    Errors come back as the RPC's error code and message, written for the model to read:
    `sql_refused` (the guard's reason), `database_connection_not_found`, `database_query_timeout`,
    `database_query_failed`, `database_unreachable`, …"""

    company_id: uuid.UUID
    agent_id: uuid.UUID
    connection_id: uuid.UUID
    sql: str = Field(min_length=1, max_length=20_000)
    limit: int = Field(20, ge=1, le=20)
    timeout_s: float = Field(10.0, gt=0, le=30)


class DatabaseQueryReply(BaseModel):
    connection_id: uuid.UUID
    connection_name: str
    dialect: str
    tables: list[str] = Field(description="the tables the statement reads, as the guard found them")
    columns: list[str]
    rows: list[list[str | int | float | bool | None]] = Field(
        description="at most `limit` rows; other values as text, long ones cut")
    row_count: int
    truncated: bool = Field(description="the statement had more rows than were returned")
    elapsed_ms: float


async def agent_credentials(
    nats: NatsConnection, *, company_id: uuid.UUID, agent_id: uuid.UUID, timeout: float = 5.0
) -> AgentCredentialsReply:
    """Ask the agents service for an agent's provider keys (raises RpcUnavailable / RpcFailed)."""
    request = AgentCredentialsRequest(company_id=company_id, agent_id=agent_id)
    return await call(nats, AGENT_CREDENTIALS_SUBJECT, request, AgentCredentialsReply, timeout=timeout)


async def agent_state(nats: NatsConnection, *, agent_id: uuid.UUID, timeout: float) -> AgentStateReply:
    """Ask the agents service for an agent's current state (raises RpcUnavailable / RpcFailed)."""
    return await call(nats, AGENT_STATE_SUBJECT, AgentStateRequest(agent_id=agent_id), AgentStateReply,
                      timeout=timeout)


class AgentStateApplier(Protocol):
    """Writes an agent's state into a projection as the matching agent event would."""

    async def __call__(
        self, session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
    ) -> bool: ...


AgentsOwner: TypeAlias = OwnerFallback[uuid.UUID, AgentStateReply]
EventHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


def snapshot_row(snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> dict[str, object]:
    """The columns every service's projection of agents keeps; each adds its own beside them."""
    return {
        "agent_id": snapshot.agent_id,
        "company_id": snapshot.company_id,
        "name": snapshot.name,
        "status": snapshot.status,
        "deleted": deleted,
        "widget_config": dict(snapshot.widget_config),
        "updated_at": time,
    }


def agent_event_handlers(apply: AgentStateApplier) -> dict[str, EventHandler]:
    """The handlers of `events.agents.agent.*` for a projection of agents: each event's snapshot
    goes to `apply` (deleted for `agents.agent.deleted.v1`), as the owner's answer to a miss does."""

    async def changed(session: AsyncSession, envelope: EventEnvelope) -> None:
        await apply(session, AgentSnapshot.model_validate(envelope.data), time=envelope.time, deleted=False)

    async def deleted(session: AsyncSession, envelope: EventEnvelope) -> None:
        await apply(session, AgentSnapshot.model_validate(envelope.data), time=envelope.time, deleted=True)

    return {
        AgentCreatedV1.event_type: changed,
        AgentUpdatedV1.event_type: changed,
        AgentRestoredV1.event_type: changed,
        AgentDeletedV1.event_type: deleted,
    }


class ProjectedAgent(Protocol):
    """A row of a service's projection of agents (what `projected_agent` needs of it)."""

    company_id: uuid.UUID
    deleted: bool


A = TypeVar("A", bound=ProjectedAgent)


async def projected_agent(
    session: AsyncSession,
    model: type[A],
    *,
    agent_id: uuid.UUID,
    company_id: uuid.UUID | None,
    owner: AgentsOwner | None,
    not_found: type[KnowrithmError],
    check: Callable[[A], object] | None = None,
) -> A:
    """A live agent of the company (any company when None) that passes `check`; `not_found` otherwise.

    With `owner` (requests), a refusal asks the agents service first; without (background work,
    whose request already found the agent) the projection alone answers.
    """

    async def load() -> A | None:
        return await session.get(model, agent_id, populate_existing=True)

    async def serve(agent: A | None) -> A:
        if agent is None or agent.deleted or (company_id is not None and agent.company_id != company_id):
            raise not_found()
        if check is not None:
            check(agent)
        return agent

    if owner is None:
        return await serve(await load())
    return await owner.read(agent_id, load=load, serve=serve)


def agents_fallback(
    *, projection: str, db: Database, nats: NatsConnection, apply: AgentStateApplier, timeout: float
) -> AgentsOwner:
    """Read-your-writes for a projection of agents: misses ask `rpc.agents.agent.v1`."""

    async def ask(agent_id: uuid.UUID) -> AgentStateReply | None:
        reply = await agent_state(nats, agent_id=agent_id, timeout=timeout)
        return reply if reply.agent is not None and reply.version is not None else None

    async def write(session: AsyncSession, reply: AgentStateReply) -> bool:
        assert reply.agent is not None and reply.version is not None  # ask() answers only these
        return await apply(session, reply.agent, time=reply.version, deleted=reply.deleted)

    return OwnerFallback(projection=projection, owner="agents", db=db, ask=ask, apply=write)


def agents_owner(request: Request) -> AgentsOwner:
    """FastAPI dependency: this process's agents fallback, kept on `app.state.agents`."""
    owner: AgentsOwner = request.app.state.agents
    return owner


# The agents fallback as an endpoint parameter type: `agents: Agents`.
Agents = Annotated[AgentsOwner, Depends(agents_owner)]


async def close_agents_owner(app: FastAPI) -> None:
    """Lifespan shutdown hook of a service keeping its agents fallback on `app.state.agents`."""
    await app.state.agents.close()
