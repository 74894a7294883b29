"""Task records for long work: a 202 answer now, progress and result at a status URL.

Each service keeps its tasks in its own schema; the gateway asks the services for
`/api/v1/tasks/{id}/status`. Progress updates commit in their own short transactions so a
client polling sees them while the work runs (`report_progress`); work whose outcome is
written with other changes uses `update_task` in that transaction instead.

While a task is pending or running its status carries `poll_after_ms`, how long a client
should wait before asking again: each service declares it per task kind (`tasks_router(
poll_after_ms={kind: ms})`, e.g. a few hundred ms for a chat answer), other kinds get
DEFAULT_POLL_AFTER_MS. Clients that honour it (the official SDK reads `poll_after_ms`)
see a quick task's result promptly without polling a slow one hard. Final tasks carry none.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any, TypeAlias, TypedDict, Unpack

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
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


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED})
# A task kind nobody declared a hint for is long work (documents, crawls, exports): once a
# second keeps its status fresh without hammering the fan-out.
DEFAULT_POLL_AFTER_MS = 1000


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
    poll_after_ms: int | None = Field(
        None, description="while pending or running: milliseconds to wait before asking again"
    )


async def create_task(
    session: AsyncSession, table: Table, *, company_id: uuid.UUID | None, kind: str
) -> uuid.UUID:
    """Add a pending task in the caller's transaction."""
    task_id = uuid.uuid4()
    await session.execute(insert(table).values(id=task_id, company_id=company_id, kind=kind))
    return task_id


def status_url(task_id: uuid.UUID) -> str:
    """Where a task's status is read (the gateway asks every service)."""
    return f"/api/v1/tasks/{task_id}/status"


# The body `accepted` builds, as a JSON schema for a route's OpenAPI `responses=`.
TASK_ACCEPTED: dict[str, Any] = {
    "type": "object",
    "required": ["status", "task_id", "message", "status_url"],
    "properties": {
        "status": {"const": "accepted"},
        "task_id": {"type": "string", "format": "uuid"},
        "message": {"type": "string"},
        "status_url": {"type": "string", "description": "Poll it: /api/v1/tasks/{task_id}/status"},
    },
}


def accepted(
    task_id: uuid.UUID, message: str = "Request accepted and queued for processing."
) -> dict[str, Any]:
    """The 202 body of a long operation."""
    return {
        "status": "accepted",
        "task_id": str(task_id),
        "message": message,
        "status_url": status_url(task_id),
    }


class TaskState(TypedDict, total=False):
    """What a task update may say besides its status (a value left out, or None, is kept)."""

    progress: int | None
    stage: str | None
    result: Any
    error: str | None


def _task_values(status: TaskStatus, state: TaskState) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status.value, "updated_at": func.now()}
    values.update((name, value) for name, value in state.items() if value is not None)
    if "progress" in values:
        values["progress"] = max(0, min(100, values["progress"]))
    return values


async def update_task(
    session: AsyncSession, table: Table, task_id: uuid.UUID, *, status: TaskStatus, **state: Unpack[TaskState]
) -> None:
    """Record a task's state in the caller's transaction (with the change it reports on)."""
    values = _task_values(status, state)
    await session.execute(update(table).where(table.c.id == task_id).values(**values))


async def report_progress(
    db: Database, table: Table, task_id: uuid.UUID, *, status: TaskStatus, **state: Unpack[TaskState]
) -> None:
    """Record a task's state in its own transaction, visible to pollers at once."""
    async with db.sessions() as session, session.begin():
        await update_task(session, table, task_id, status=status, **state)


async def get_task(session: AsyncSession, table: Table, task_id: uuid.UUID, principal: Principal) -> TaskView:
    """A task of the caller's company (any company for super admins); 404 otherwise."""
    stmt = select(table).where(table.c.id == task_id)
    if not principal.is_super_admin:
        stmt = stmt.where(table.c.company_id == principal.company_id)
    row = (await session.execute(stmt)).mappings().first()
    if row is None:
        raise NotFound("Task not found")
    stored = {k: row[k] for k in TaskView.model_fields if k not in ("task_id", "poll_after_ms")}
    return TaskView(task_id=row["id"], **stored)


def with_poll_hint(view: TaskView, poll_after_ms: Mapping[str, int]) -> TaskView:
    """The view telling a poller when to ask again (its kind's wait) while it is not final."""
    if view.status not in FINAL_STATUSES:
        view.poll_after_ms = poll_after_ms.get(view.kind, DEFAULT_POLL_AFTER_MS)
    else:
        view.poll_after_ms = None
    return view


# A task whose state is computed from other records when asked (e.g. an upload's from its
# documents) rather than reported into its row: (session, the row's view) -> the view to answer.
DerivedView: TypeAlias = Callable[[AsyncSession, TaskView], Awaitable[TaskView]]


def tasks_router(
    table: Table,
    *,
    derived: Mapping[str, DerivedView] | None = None,
    poll_after_ms: Mapping[str, int] | None = None,
) -> APIRouter:
    """`GET /api/v1/tasks/{task_id}/status` over this service's task table.

    `derived` maps task kinds whose state is computed on read to the function computing it;
    `poll_after_ms` maps task kinds to the wait a poller is told while they are not final.
    """
    router = APIRouter(tags=["Tasks"])
    views = dict(derived or {})
    hints = dict(poll_after_ms or {})

    @router.get("/api/v1/tasks/{task_id}/status", response_model=TaskView)
    async def task_status(
        task_id: uuid.UUID, request: Request, principal: Principal = Depends(authenticated)
    ) -> TaskView:
        """Status, progress and result of a long-running task."""
        db: Database = request.app.state.db
        async with db.sessions() as session:
            view = await get_task(session, table, task_id, principal)
            derive = views.get(view.kind)
            if derive is not None:
                view = await derive(session, view)
            return with_poll_hint(view, hints)

    return router
