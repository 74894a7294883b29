"""Request and reply models of the queries services make of each other over NATS
(`knowrithm_common.messaging.rpc`). Like events, a breaking change makes a new version."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import call

AGENT_CREDENTIALS_SUBJECT = "rpc.agents.credentials.v1"
INGESTION_SEARCH_SUBJECT = "rpc.ingestion.search.v1"


class AgentCredentialsRequest(BaseModel):
    """The decrypted provider keys an agent's effective settings hold (service to service only)."""

    company_id: uuid.UUID
    agent_id: uuid.UUID


class AgentCredentialsReply(BaseModel):
    settings_id: uuid.UUID | None = None
    llm_api_key: str | None = Field(None, repr=False)
    embedding_api_key: str | None = Field(None, repr=False)


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


async def agent_credentials(
    nats: NatsConnection, *, company_id: uuid.UUID, agent_id: uuid.UUID, timeout: float = 5.0
) -> AgentCredentialsReply:
    """Ask the agents service for an agent's provider keys (raises RpcUnavailable / RpcFailed)."""
    request = AgentCredentialsRequest(company_id=company_id, agent_id=agent_id)
    return await call(nats, AGENT_CREDENTIALS_SUBJECT, request, AgentCredentialsReply, timeout=timeout)
