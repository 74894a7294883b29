"""HTTP API of analyses and analysed tables.

`POST /database-connection/{id}/analyze` and `POST /database-connection/analyze` (every live
connection of the company, or of `agent_id`) answer 202 with a task to poll (percent and stage).
Tables: list per connection (paginated), get, soft delete one or all, restore, the deleted list.
Members read (API keys need `read`); admins analyse, delete and restore. Another company's ids
answer 404. Deleting and restoring table metadata is quick: they answer at once (200), not with
the reference API's 202 task (docs/architecture.md, "Synchronous quick operations").
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Any

from fastapi import APIRouter

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.tasks import TASK_ACCEPTED, accepted
from knowrithm_common.tenancy import CompanyDelete, CompanyRead, CompanyUpdate, CompanyWrite
from knowrithm_ingestion.databases.analysis import service
from knowrithm_ingestion.databases.analysis.schemas import (
    AnalyzeAll,
    ConnectionBrief,
    DeletedTables,
    TableDeleted,
    TableList,
    TableOut,
    TableRestored,
    TablesDeleted,
)
from knowrithm_ingestion.models import DatabaseTable

router = APIRouter()
ANALYZE_TAGS: list[str | Enum] = ["Database Connections"]
TAGS: list[str | Enum] = ["Database Tables"]
PREFIX = "/api/v1/database-connection"
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Queued: poll status_url",
        "content": {"application/json": {"schema": TASK_ACCEPTED}},
    }
}


@router.post(
    f"{PREFIX}/analyze",
    status_code=202,
    tags=ANALYZE_TAGS,
    responses={**ACCEPTED, **errors(400, 422)},
)
async def analyze_all(
    session: Session, subject: CompanyWrite, body: AnalyzeAll | None = None
) -> dict[str, Any]:
    """Analyse every live database connection of the company (or of `agent_id`): a task to poll."""
    agent_id = body.agent_id if body is not None else None
    task_id, count = await service.analyze_all(
        session, company_id=subject.company, agent_id=agent_id, actor=subject.actor
    )
    return accepted(task_id, f"Analysis of {count} database connection(s) queued.")


@router.post(
    f"{PREFIX}/{{connection_id}}/analyze",
    status_code=202,
    tags=ANALYZE_TAGS,
    responses={**ACCEPTED, **errors(404)},
)
async def analyze_connection(
    connection_id: uuid.UUID, session: Session, subject: CompanyWrite
) -> dict[str, Any]:
    """Analyse one database connection: tables, columns, keys, row counts and masked sample rows."""
    task_id = await service.analyze_connection(
        session, company_id=subject.company_id, connection_id=connection_id, actor=subject.actor
    )
    return accepted(task_id, "Database analysis queued.")


@router.get(f"{PREFIX}/table/deleted", response_model=DeletedTables, tags=TAGS)
async def deleted_tables(session: Session, subject: CompanyRead, page: Page) -> DeletedTables:
    """Soft-deleted tables of the company's live connections (restorable)."""
    rows, pagination = await service.deleted_tables(session, subject.company_id, page)
    types = await service.tables_out_types(session, rows)
    return DeletedTables(
        deleted_tables=[_out(r, types) for r in rows],
        pagination=pagination,
    )


@router.get(f"{PREFIX}/table/{{table_id}}", response_model=TableOut, tags=TAGS, responses=errors(404))
async def get_table(table_id: uuid.UUID, session: Session, subject: CompanyRead) -> TableOut:
    """One analysed table: columns, keys, row count and masked sample rows."""
    table = await service.get_table(session, subject.company_id, table_id)
    types = await service.tables_out_types(session, [table])
    return _out(table, types)


@router.delete(f"{PREFIX}/table/{{table_id}}", response_model=TableDeleted, tags=TAGS, responses=errors(404))
async def delete_table(table_id: uuid.UUID, session: Session, subject: CompanyDelete) -> TableDeleted:
    """Soft-delete one table's metadata (the agent stops using it); PATCH …/restore brings it back."""
    table = await service.delete_table(
        session, company_id=subject.company_id, table_id=table_id, actor=subject.actor
    )
    return TableDeleted(table_id=table.id)


@router.patch(
    f"{PREFIX}/table/{{table_id}}/restore",
    response_model=TableRestored,
    tags=TAGS,
    responses=errors(400, 404),
)
async def restore_table(table_id: uuid.UUID, session: Session, subject: CompanyUpdate) -> TableRestored:
    """Restore a soft-deleted table (400 while its connection is deleted)."""
    table = await service.restore_table(
        session, company_id=subject.company_id, table_id=table_id, actor=subject.actor
    )
    types = await service.tables_out_types(session, [table])
    return TableRestored(table=_out(table, types))


@router.get(f"{PREFIX}/{{connection_id}}/table", response_model=TableList, tags=TAGS, responses=errors(404))
async def list_tables(
    connection_id: uuid.UUID, session: Session, subject: CompanyRead, page: Page
) -> TableList:
    """One page of a connection's analysed tables, by schema and name."""
    connection, rows, pagination = await service.list_tables(
        session, company_id=subject.company_id, connection_id=connection_id, page=page
    )
    return TableList(
        connection=ConnectionBrief.of(connection),
        tables=[
            TableOut.of(r, database_type=connection.database_type, last_analyzed=connection.last_analyzed_at)
            for r in rows
        ],
        pagination=pagination,
    )


@router.delete(
    f"{PREFIX}/{{connection_id}}/table", response_model=TablesDeleted, tags=TAGS, responses=errors(404)
)
async def delete_tables(connection_id: uuid.UUID, session: Session, subject: CompanyDelete) -> TablesDeleted:
    """Soft-delete every table's metadata of a connection."""
    connection, count = await service.delete_tables(
        session, company_id=subject.company_id, connection_id=connection_id, actor=subject.actor
    )
    return TablesDeleted(database_connection_id=connection.id, deleted_tables_count=count)


def _out(table: DatabaseTable, connections: dict[uuid.UUID, tuple[str, dt.datetime | None]]) -> TableOut:
    database_type, last_analyzed = connections.get(table.connection_id, (None, None))
    return TableOut.of(table, database_type=database_type, last_analyzed=last_analyzed)
