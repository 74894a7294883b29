"""Task records for long work: a 202 answer now, progress and result at a status URL.

Each service keeps its tasks in its own schema; the gateway asks the services for
`/api/v1/tasks/{id}/status`. Progress updates commit in their own short transactions so a
client polling sees them while the work runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, TypeAlias

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.errors import NotFound
from knowrithm_common.identity import Principal, authenticated


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def tasks_table(metadata: MetaData) -> Table:
    """The task table in the schema of `metadata`."""
    return Table(
        "tasks",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("company_id", Uuid, index=True),
        Column("kind", String(100), nullable=False),
        Column("status", String(20), nullable=False, server_default=TaskStatus.PENDING.value),
        Column("progress", Integer, nullable=False, server_default="0"),
        Column("stage", String(100)),
        Column("result", JSONB),
        Column("error", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class TaskView(BaseModel):
    task_id: uuid.UUID
    kind: str
    status: TaskStatus
    progress: int
    stage: str | None
    result: Any = None
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


async def create_task(
    session: AsyncSession, table: Table, *, company_id: uuid.UUID | None, kind: str
) -> uuid.UUID:
    """Add a pending task in the caller's transaction."""
    task_id = uuid.uuid4()
    await session.execute(insert(table).values(id=task_id, company_id=company_id, kind=kind))
    return task_id


def accepted(
    task_id: uuid.UUID, message: str = "Request accepted and queued for processing."
) -> dict[str, Any]:
    """The 202 body of a long operation."""
    return {
        "status": "accepted",
        "task_id": str(task_id),
        "message": message,
        "status_url": f"/api/v1/tasks/{task_id}/status",
    }


async def report_progress(
    db: Database,
    table: Table,
    task_id: uuid.UUID,
    *,
    status: TaskStatus,
    progress: int | None = None,
    stage: str | None = None,
    result: Any = None,
    error: str | None = None,
) -> None:
    """Record a task's state in its own transaction, visible to pollers at once."""
    values: dict[str, Any] = {"status": status.value, "updated_at": func.now()}
    if progress is not None:
        values["progress"] = max(0, min(100, progress))
    if stage is not None:
        values["stage"] = stage
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    async with db.sessions() as session, session.begin():
        await session.execute(update(table).where(table.c.id == task_id).values(**values))


async def get_task(session: AsyncSession, table: Table, task_id: uuid.UUID, principal: Principal) -> TaskView:
    """A task of the caller's company (any company for super admins); 404 otherwise."""
    stmt = select(table).where(table.c.id == task_id)
    if not principal.is_super_admin:
        stmt = stmt.where(table.c.company_id == principal.company_id)
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        raise NotFound("Task not found")
    return TaskView(task_id=row["id"], **{k: row[k] for k in TaskView.model_fields if k != "task_id"})


# A task whose state is computed from other records when asked (e.g. an upload's from its
# documents) rather than reported into its row: (session, the row's view) -> the view to answer.
DerivedView: TypeAlias = Callable[[AsyncSession, TaskView], Awaitable[TaskView]]


def tasks_router(table: Table, *, derived: Mapping[str, DerivedView] | None = None) -> APIRouter:
    """`GET /api/v1/tasks/{task_id}/status` over this service's task table; `derived` maps task
    kinds whose state is computed on read to the function computing it."""
    router = APIRouter(tags=["Tasks"])
    views = dict(derived or {})

    @router.get("/api/v1/tasks/{task_id}/status", response_model=TaskView)
    async def task_status(
        task_id: uuid.UUID, request: Request, principal: Principal = Depends(authenticated)
    ) -> TaskView:
        """Status, progress and result of a long-running task."""
        db: Database = request.app.state.db
        async with db.sessions() as session:
            view = await get_task(session, table, task_id, principal)
            derive = views.get(view.kind)
            return await derive(session, view) if derive else view

    return router
