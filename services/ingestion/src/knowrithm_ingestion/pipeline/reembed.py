"""The ReembedAgent job: embed an agent's chunks again after its embedding model changed.

Chunks are replaced in the index by id (upsert), so search keeps working during the run with
a mix of old and new vectors; the search side compares only vectors of the agent's current
model, so old ones simply stop matching until they are replaced. Deleted chunks are
re-embedded too, so a later restore indexes them with the current model.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from knowrithm_common.errors import AgentNotFound
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import ReembedAgent
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.tasks import TaskStatus, report_progress
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.documents.service import records_of
from knowrithm_ingestion.embeddings.base import EmbeddingTask
from knowrithm_ingestion.models import Chunk, Document, shared
from knowrithm_ingestion.pipeline.deps import Deps

BATCH = 128


async def reembed_agent(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Handle one ReembedAgent job."""
    job = ReembedAgent.model_validate(envelope.data)
    async with deps.db.sessions() as session:
        try:
            agent = await get_agent(
                session, company_id=envelope.company_id, agent_id=job.agent_id, owner=None
            )
        except AgentNotFound:
            await _done(deps, job.task_id, 0, "agent deleted")
            return
        total = await session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.agent_id == agent.agent_id)
        )
    embedder = await deps.embedder_for(agent)
    done, after = 0, uuid.UUID(int=0)
    try:
        while True:
            async with deps.db.session() as session, session.begin():
                chunks = list(await session.scalars(
                    select(Chunk).where(Chunk.agent_id == agent.agent_id, Chunk.id > after)
                    .order_by(Chunk.id).limit(BATCH)
                ))
                if not chunks:
                    break
                vectors = await embedder.embed([c.content for c in chunks], task=EmbeddingTask.DOCUMENT)
                for chunk, vector in zip(chunks, vectors, strict=True):
                    chunk.embedding, chunk.embedding_model = list(vector), embedder.model
                live = [c for c in chunks if c.deleted_at is None]
                await deps.store.upsert(agent.company_id, records_of(live))
                after = chunks[-1].id
            done += len(chunks)
            if job.task_id is not None:
                await report_progress(deps.db, shared.tasks, job.task_id, status=TaskStatus.RUNNING,
                                      progress=100 * done // max(total or 1, 1),
                                      stage=f"re-embedded {done}/{total}")
        async with deps.db.session() as session, session.begin():
            await session.execute(
                update(Document)
                .where(Document.agent_id == agent.agent_id, Document.embedding_model.is_not(None))
                .values(embedding_model=embedder.model)
            )
    finally:
        await embedder.aclose()
    await _done(deps, job.task_id, done, "re-embedded")


async def _done(deps: Deps, task_id: uuid.UUID | None, chunks: int, stage: str) -> None:
    if task_id is not None:
        await report_progress(deps.db, shared.tasks, task_id, status=TaskStatus.COMPLETED, progress=100,
                              stage=stage, result={"chunks": chunks})
