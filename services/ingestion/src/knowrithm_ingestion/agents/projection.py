"""Ingestion's view of agents and companies, kept from events (DESIGN §3: no service reads
another's schema).

`events.agents.agent.*` carry an agent's whole resolved configuration, so each event simply
replaces the row; an older event arriving after a newer one (replay) is ignored by comparing
event times. A change of embedding model asks for the agent's knowledge to be embedded again.
Company deletion hides the company's documents from search until it is restored.

Read-your-writes: a request naming an agent the projection has not seen (created a moment
ago) or holds as deleted or unusable asks the agents service (`owner`, an `OwnerFallback`)
and applies its answer like the event before answering (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.errors import AgentNotConfigured, AgentNotFound
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.agents import (
    AgentSnapshot,
)
from knowrithm_common.events.auth import CompanyDeletedV1, CompanyRestoredV1
from knowrithm_common.events.ingestion import ReembedAgent
from knowrithm_common.llm import Llm, LlmSpec, create_llm
from knowrithm_common.llm.agent import LOCAL_PROVIDERS as LOCAL_LLM_PROVIDERS
from knowrithm_common.llm.agent import agent_llm_spec
from knowrithm_common.projections import upsert_if_newer
from knowrithm_common.queries import (
    AgentsOwner,
    EventHandler,
    agent_event_handlers,
    projected_agent,
    snapshot_row,
)
from knowrithm_ingestion.embeddings.base import EmbeddingSpec
from knowrithm_ingestion.models import AgentView, CompanyView
from knowrithm_ingestion.tasks import queue_job

if TYPE_CHECKING:
    from knowrithm_ingestion.pipeline.deps import Deps

PROJECTION = "ingestion.agents"
NO_EMBEDDING_SETTINGS = "The agent has no embedding settings; add LLM and embedding settings first"


async def get_agent(
    session: AsyncSession, *, company_id: uuid.UUID | None, agent_id: uuid.UUID, owner: AgentsOwner | None,
    check: Callable[[AgentView], object] | None = None,
) -> AgentView:
    """`projected_agent` of this projection; while its company is deleted, an agent is not found either."""
    agent = await projected_agent(session, AgentView, agent_id=agent_id, company_id=company_id, owner=owner,
                                  not_found=AgentNotFound, check=check)
    if await company_deleted(session, agent.company_id):
        raise AgentNotFound()
    return agent


async def company_deleted(session: AsyncSession, company_id: uuid.UUID) -> bool:
    found = await session.execute(select(CompanyView.company_id).where(CompanyView.company_id == company_id))
    return found.first() is not None


def embedding_spec(agent: AgentView) -> EmbeddingSpec:
    """The agent's embedding model as the embeddings port takes it (without its API key)."""
    if not agent.embedding_provider or not agent.embedding_model or not agent.embedding_dimension:
        raise AgentNotConfigured(NO_EMBEDDING_SETTINGS)
    return EmbeddingSpec(
        provider=agent.embedding_provider,
        model=agent.embedding_model,
        dimension=agent.embedding_dimension,
        base_url=agent.embedding_api_base_url,
        params=dict(agent.embedding_params or {}),
    )


def has_llm(agent: AgentView) -> bool:
    """Whether the agent answers with a language model (not the offline provider, which only quotes)."""
    return (agent.llm_provider or "offline") not in LOCAL_LLM_PROVIDERS


async def llm_spec(deps: Deps, agent: AgentView) -> LlmSpec:
    """The agent's language model with its key (`LlmError(settings_unavailable)` when it cannot be read)."""
    return await agent_llm_spec(
        deps.nats, company_id=agent.company_id, agent_id=agent.agent_id, provider=agent.llm_provider,
        model=agent.llm_model, base_url=agent.llm_api_base_url, params=agent.llm_params,
        timeout=deps.settings.llm_timeout_seconds,
    )


async def llm_for(deps: Deps, agent: AgentView) -> Llm:
    """The agent's language model, ready to call (close it with `aclose`); raises `LlmError`."""
    return create_llm(await llm_spec(deps, agent))


def _row(snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool) -> dict[str, object]:
    config = snapshot.configuration
    return {
        **snapshot_row(snapshot, time=time, deleted=deleted),
        "embedding_provider": config.embedding_provider if config else None,
        "embedding_model": config.embedding_model if config else None,
        "embedding_dimension": config.embedding_dimension if config else None,
        "embedding_api_base_url": config.embedding_api_base_url if config else None,
        "embedding_params": dict(config.embedding_additional_params) if config else {},
        "llm_provider": config.llm_provider if config else None,
        "llm_model": config.llm_model if config else None,
        "llm_api_base_url": config.llm_api_base_url if config else None,
        "llm_params": dict(config.llm_additional_params) if config else {},
    }


async def apply_state(
    session: AsyncSession, snapshot: AgentSnapshot, *, time: dt.datetime, deleted: bool
) -> bool:
    """Write an agent's state (from an event, or the agents service's answer) unless this one or a
    newer one is here; whether it was written."""
    row = _row(snapshot, time=time, deleted=deleted)
    previous = await upsert_if_newer(session, AgentView, key="agent_id", row=row, event_time=time)
    if previous is AgentView:
        return False
    if previous is None:
        return True  # the agent's first state: nothing to re-embed
    old_model = (previous["embedding_model"], previous["embedding_dimension"])
    new_model = (row["embedding_model"], row["embedding_dimension"])
    if old_model != new_model and row["embedding_model"]:
        await request_reembed(session, company_id=snapshot.company_id, agent_id=snapshot.agent_id)
    return True


async def request_reembed(session: AsyncSession, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> uuid.UUID:
    """Queue re-embedding of an agent's chunks (a task the user can follow)."""
    job = ReembedAgent(agent_id=agent_id)
    return await queue_job(session, job, kind="reembed_agent", company_id=company_id)


async def on_company_deleted(session: AsyncSession, envelope: EventEnvelope) -> None:
    data = CompanyDeletedV1.model_validate(envelope.data)
    stmt = pg_insert(CompanyView).values(company_id=data.company_id, deleted_at=envelope.time)
    await session.execute(stmt.on_conflict_do_nothing())


async def on_company_restored(session: AsyncSession, envelope: EventEnvelope) -> None:
    data = CompanyRestoredV1.model_validate(envelope.data)
    await session.execute(delete(CompanyView).where(CompanyView.company_id == data.company_id))


HANDLERS: dict[str, EventHandler] = {
    **agent_event_handlers(apply_state),
    CompanyDeletedV1.event_type: on_company_deleted,
    CompanyRestoredV1.event_type: on_company_restored,
}
