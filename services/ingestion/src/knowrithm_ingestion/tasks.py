"""Work a user can follow: a task (`/api/v1/tasks/{id}/status`) and the job that does it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import JobData
from knowrithm_common.tasks import create_task
from knowrithm_ingestion.models import outbox, shared


async def queue_job(
    session: AsyncSession, job: JobData, *, kind: str, company_id: uuid.UUID, actor: Actor | None = None
) -> uuid.UUID:
    """Add a pending task of `kind` and queue `job` for it (both land with the commit); the task's id."""
    task_id = await create_task(session, shared.tasks, company_id=company_id, kind=kind)
    await outbox.add(session, job.model_copy(update={"task_id": task_id}), company_id=company_id, actor=actor)
    return task_id
