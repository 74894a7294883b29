"""Every query of analysed tables; scoped by company (None: a super admin, every company)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None) -> Select[Any]:
    return stmt if company_id is None else stmt.where(DatabaseTable.company_id == company_id)


def _ordered(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(DatabaseTable.schema_name, DatabaseTable.name, DatabaseTable.id)


async def active_tables(session: AsyncSession, connection_id: uuid.UUID) -> Sequence[DatabaseTable]:
    """The live tables of a connection, by schema and name (the connection's scope is the caller's)."""
    stmt = select(DatabaseTable).where(
        DatabaseTable.connection_id == connection_id, DatabaseTable.not_deleted()
    )
    return (await session.scalars(_ordered(stmt))).all()


async def all_tables(session: AsyncSession, connection_id: uuid.UUID) -> Sequence[DatabaseTable]:
    """Every table row of a connection, deleted ones too (what an analysis compares against)."""
    stmt = select(DatabaseTable).where(DatabaseTable.connection_id == connection_id)
    return (await session.scalars(_ordered(stmt).with_for_update())).all()


async def list_tables(
    session: AsyncSession, connection_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[DatabaseTable], Pagination]:
    """One page of a connection's live tables, by schema and name."""
    stmt = select(DatabaseTable).where(
        DatabaseTable.connection_id == connection_id, DatabaseTable.not_deleted()
    )
    return await paginate(session, _ordered(stmt), page)


async def deleted_tables(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams
) -> tuple[Sequence[DatabaseTable], Pagination]:
    """One page of the company's soft-deleted tables of live connections, last deleted first."""
    stmt = _scoped(select(DatabaseTable), company_id).join(
        DatabaseConnection, DatabaseConnection.id == DatabaseTable.connection_id
    )
    stmt = stmt.where(DatabaseTable.only_deleted(), DatabaseConnection.not_deleted())
    return await paginate(session, stmt.order_by(DatabaseTable.deleted_at.desc(), DatabaseTable.id), page)


async def get_table(
    session: AsyncSession,
    table_id: uuid.UUID,
    company_id: uuid.UUID | None,
    *,
    deleted: bool = False,
    lock: bool = False,
) -> DatabaseTable | None:
    """A live (or soft-deleted) table of the company whose connection is live."""
    stmt = _scoped(select(DatabaseTable).where(DatabaseTable.id == table_id), company_id).join(
        DatabaseConnection, DatabaseConnection.id == DatabaseTable.connection_id
    )
    stmt = stmt.where(
        DatabaseTable.only_deleted() if deleted else DatabaseTable.not_deleted(),
        DatabaseConnection.not_deleted(),
    )
    if lock:
        stmt = stmt.with_for_update(of=DatabaseTable)
    return await session.scalar(stmt)


async def soft_delete_tables(
    session: AsyncSession,
    connection_id: uuid.UUID,
    at: dt.datetime,
    *,
    table_ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Mark a connection's live tables (all, or these) deleted at `at`; their ids."""
    stmt = update(DatabaseTable).where(
        DatabaseTable.connection_id == connection_id, DatabaseTable.not_deleted()
    )
    if table_ids is not None:
        stmt = stmt.where(DatabaseTable.id.in_(table_ids))
    result = await session.execute(stmt.values(deleted_at=at).returning(DatabaseTable.id))
    return list(result.scalars().all())


async def database_types(
    session: AsyncSession, connection_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, dt.datetime | None]]:
    """Each connection's engine (`database_type`) and last completed analysis, by id."""
    if not connection_ids:
        return {}
    stmt = select(
        DatabaseConnection.id, DatabaseConnection.database_type, DatabaseConnection.last_analyzed_at
    ).where(DatabaseConnection.id.in_(set(connection_ids)))
    return {row.id: (row.database_type, row.last_analyzed_at) for row in await session.execute(stmt)}
