"""Hybrid search over a company's knowledge, for the API and for `rpc.ingestion.search.v1`.

The query is embedded with each agent's current model (agents sharing a model share one
embedding and one index query); keyword and vector results are fused by the store, and lists
of different models by reciprocal-rank fusion. Hits are then checked against the chunk rows:
only live chunks of live documents of this company come back, whatever the index still holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.queries import SearchReply, SearchRequest, SearchResult
from knowrithm_ingestion.agents.projection import company_deleted, get_agent
from knowrithm_ingestion.embeddings.base import EmbeddingTask
from knowrithm_ingestion.models import AgentView, Chunk, Document
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.vectorstore.base import SearchHit, SearchQuery
from knowrithm_ingestion.vectorstore.fusion import rrf


async def _agents(
    session: AsyncSession, deps: Deps, company_id: uuid.UUID, agent_id: uuid.UUID | None
) -> list[AgentView]:
    if agent_id is not None:
        return [await get_agent(session, company_id=company_id, agent_id=agent_id, owner=deps.agents)]
    if await company_deleted(session, company_id):
        return []
    rows = await session.scalars(
        select(AgentView).where(AgentView.company_id == company_id, AgentView.deleted.is_(False),
                                AgentView.embedding_model.is_not(None))
    )
    return list(rows)


def _groups(agents: Sequence[AgentView]) -> dict[tuple, list[AgentView]]:
    groups: dict[tuple, list[AgentView]] = {}
    for agent in agents:
        key = (agent.embedding_provider, agent.embedding_model, agent.embedding_dimension,
               agent.embedding_api_base_url)
        groups.setdefault(key, []).append(agent)
    return groups


async def _search_group(deps: Deps, company_id: uuid.UUID, agents: list[AgentView], query: str,
                        limit: int) -> list[SearchHit]:
    embedder = await deps.embedder_for(agents[0])
    try:
        [vector] = await embedder.embed([query], task=EmbeddingTask.QUERY)
    finally:
        await embedder.aclose()
    q = SearchQuery(text=query, vector=vector, model=embedder.model, agent_ids=[a.agent_id for a in agents],
                    limit=limit)
    return await deps.store.search(company_id, q)


async def search(session: AsyncSession, deps: Deps, request: SearchRequest) -> SearchReply:
    """The best passages for a query, best first, each with its document and page."""
    started = time.perf_counter()
    agents = await _agents(session, deps, request.company_id, request.agent_id)
    fetch = request.limit * 2  # room for hits the chunk rows no longer back
    lists = [await _search_group(deps, request.company_id, group, request.query, fetch)
             for group in _groups(agents).values()]
    hits = lists[0] if len(lists) == 1 else _fuse(lists) if lists else []
    results = (await _hydrate(session, request.company_id, hits))[: request.limit]
    return SearchReply(query=request.query, results=results, total_results=len(results),
                       execution_time=round(time.perf_counter() - started, 4))


def _fuse(lists: list[list[SearchHit]]) -> list[SearchHit]:
    by_id = {hit.id: hit for hits in lists for hit in hits}
    ranked = rrf([[hit.id for hit in hits] for hits in lists])
    return [by_id[i] for i, _ in ranked]


async def _hydrate(
    session: AsyncSession, company_id: uuid.UUID, hits: list[SearchHit]
) -> list[SearchResult]:
    if not hits:
        return []
    rows = await session.execute(
        select(Chunk, Document)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_([h.id for h in hits]), Chunk.company_id == company_id,
               Document.company_id == company_id, Chunk.not_deleted(), Document.not_deleted())
    )
    found = {chunk.id: (chunk, document) for chunk, document in rows}
    results = []
    for hit in hits:
        if hit.id not in found:
            continue
        chunk, document = found[hit.id]
        results.append(SearchResult(
            id=chunk.id, document_id=document.id, agent_id=chunk.agent_id, chunk_index=chunk.chunk_index,
            page=chunk.page, content=chunk.content, score=hit.score,
            document_name=document.original_filename, document_type=document.document_type,
            source_url=document.source_url, embedding_model=chunk.embedding_model,
            word_count=chunk.word_count,
            created_at=chunk.created_at.isoformat(),
        ))
    return results
