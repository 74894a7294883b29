"""Projection of the ingestion service's database events: each connection of a company's databases.

One row per connection (`DatabaseConnectionFact`), never its URL. Each kind of state is replaced
only by a newer event of its kind, so events arriving late or twice change nothing:
`state_time` orders the name and engine (created, updated), `lifecycle_at` the deletion and
restoration, `tested_at` the last test, `tables_time` the tables' totals. The analysed event and
the table deleted/restored events carry the connection's live tables and rows after the change,
so the totals are replaced, never added up (a table's event from before those fields changes
nothing; an analysis from before them counts its tables, not their rows). `total_size_bytes` is
the tables' bytes on disk where the engine tells (None: no size known, or an event from before).
An event may come before the connection's `created` (a retry delays one delivery): the row then
starts as a placeholder (EPOCH state time) that `created` fills in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import DatabaseConnectionFact
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import EPOCH, company_of, if_newer, row, run, upsert
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import (
    DatabaseConnectionAnalyzedV1,
    DatabaseConnectionCreatedV1,
    DatabaseConnectionDeletedV1,
    DatabaseConnectionRestoredV1,
    DatabaseConnectionTestedV1,
    DatabaseConnectionUpdatedV1,
    DatabaseTableRestoredV1,
    DatabaseTablesDeletedV1,
)

CONNECTIONS: Table = DatabaseConnectionFact.__table__
projections = Projections()


def _statement(*, time: str, newer: tuple[str, ...], first_known: tuple[str, ...] = ()) -> Insert:
    return upsert(
        CONNECTIONS,
        "database_connection_id",
        lambda x: {
            **if_newer(CONNECTIONS, x, time=time, columns=(*newer, time)),
            **{name: func.coalesce(CONNECTIONS.c[name], x[name]) for name in first_known},
        },
    )


_CREATED = _statement(
    time="state_time", newer=("name", "database_type"), first_known=("created_by", "created_at")
)
_UPDATED = _statement(time="state_time", newer=("name", "database_type"))
_LIFECYCLE = _statement(time="lifecycle_at", newer=("deleted_at",))
_TESTED = _statement(time="tested_at", newer=("test_valid", "tested_by"))
_TABLES = _statement(time="tables_time", newer=("table_count", "total_rows", "total_size_bytes"))


def _connection(event: EventEnvelope, data: BaseModel, **fields: Any) -> dict[str, Any]:
    """A connection's row: the payload's fields, `fields`, and a placeholder's state time."""
    return row(CONNECTIONS, data, **{"company_id": company_of(event), "state_time": EPOCH, **fields})


@projections.of(DatabaseConnectionCreatedV1)
async def connection_created(
    session: AsyncSession, event: EventEnvelope, data: DatabaseConnectionCreatedV1
) -> None:
    """A connection with its name, engine and who created it."""
    connection = _connection(
        event, data, state_time=event.time, created_at=event.time, created_by=event.actor.id
    )
    await run(session, _CREATED, connection)


@projections.of(DatabaseConnectionUpdatedV1)
async def connection_updated(
    session: AsyncSession, event: EventEnvelope, data: DatabaseConnectionUpdatedV1
) -> None:
    """A connection's new name or engine (the update's event carries both)."""
    await run(session, _UPDATED, _connection(event, data, state_time=event.time))


@projections.of(DatabaseConnectionDeletedV1, DatabaseConnectionRestoredV1)
async def connection_lifecycle(
    session: AsyncSession,
    event: EventEnvelope,
    data: DatabaseConnectionDeletedV1 | DatabaseConnectionRestoredV1,
) -> None:
    """A deleted connection (with its tables) is inactive; a restored one active again (the later wins)."""
    deleted_at = event.time if event.type == DatabaseConnectionDeletedV1.event_type else None
    await run(session, _LIFECYCLE, _connection(event, data, deleted_at=deleted_at, lifecycle_at=event.time))


@projections.of(DatabaseConnectionTestedV1)
async def connection_tested(
    session: AsyncSession, event: EventEnvelope, data: DatabaseConnectionTestedV1
) -> None:
    """The connection's last test: when, its outcome and who ran it."""
    actor = event.actor.id
    tested = _connection(event, data, tested_at=event.time, test_valid=data.is_valid, tested_by=actor)
    await run(session, _TESTED, tested)


@projections.of(DatabaseConnectionAnalyzedV1, DatabaseTablesDeletedV1, DatabaseTableRestoredV1)
async def tables_changed(
    session: AsyncSession,
    event: EventEnvelope,
    data: DatabaseConnectionAnalyzedV1 | DatabaseTablesDeletedV1 | DatabaseTableRestoredV1,
) -> None:
    """The connection's live tables, their rows and bytes after an analysis or a table's deletion or
    restoration."""
    if data.table_count is None:
        return  # a table's event from before the totals: it cannot say what the connection holds now
    totals = _connection(
        event, data, table_count=data.table_count, total_rows=data.total_rows,
        total_size_bytes=data.total_size_bytes, tables_time=event.time,
    )
    await run(session, _TABLES, totals)
