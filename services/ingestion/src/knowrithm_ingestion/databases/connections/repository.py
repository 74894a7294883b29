"""Every query of database connections and their tables; scoped by company (None: a super admin,
every company)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None) -> Select[Any]:
    return stmt if company_id is None else stmt.where(DatabaseConnection.company_id == company_id)


async def get_connection(
    session: AsyncSession,
    connection_id: uuid.UUID,
    company_id: uuid.UUID | None,
    *,
    deleted: bool | None = False,
    lock: bool = False,
) -> DatabaseConnection | None:
    """A connection of the company: live (default), soft-deleted (`deleted=True`) or either (None)."""
    stmt = _scoped(select(DatabaseConnection).where(DatabaseConnection.id == connection_id), company_id)
    if deleted is not None:
        stmt = stmt.where(DatabaseConnection.only_deleted() if deleted else DatabaseConnection.not_deleted())
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def list_connections(
    session: AsyncSession,
    company_id: uuid.UUID | None,
    page: PageParams,
    *,
    agent_id: uuid.UUID | None = None,
    deleted: bool = False,
) -> tuple[Sequence[DatabaseConnection], Pagination]:
    """One page of the company's live or soft-deleted connections (of one agent), newest first."""
    stmt = _scoped(select(DatabaseConnection), company_id)
    stmt = stmt.where(DatabaseConnection.only_deleted() if deleted else DatabaseConnection.not_deleted())
    if agent_id is not None:
        stmt = stmt.where(DatabaseConnection.agent_id == agent_id)
    order = (DatabaseConnection.deleted_at.desc(),) if deleted else ()
    return await paginate(
        session, stmt.order_by(*order, DatabaseConnection.created_at.desc(), DatabaseConnection.id), page
    )


async def active_connections(
    session: AsyncSession, company_id: uuid.UUID, *, agent_id: uuid.UUID | None = None
) -> Sequence[DatabaseConnection]:
    """Every live connection of the company (of one agent), oldest first."""
    stmt = select(DatabaseConnection).where(
        DatabaseConnection.company_id == company_id, DatabaseConnection.not_deleted()
    )
    if agent_id is not None:
        stmt = stmt.where(DatabaseConnection.agent_id == agent_id)
    return (await session.scalars(stmt.order_by(DatabaseConnection.created_at, DatabaseConnection.id))).all()


async def name_taken(
    session: AsyncSession, *, agent_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> bool:
    """Whether a live connection of the agent has this name (case-insensitive)."""
    stmt = select(DatabaseConnection.id).where(
        DatabaseConnection.agent_id == agent_id,
        func.lower(DatabaseConnection.name) == name.lower(),
        DatabaseConnection.not_deleted(),
    )
    if other_than is not None:
        stmt = stmt.where(DatabaseConnection.id != other_than)
    return (await session.execute(stmt.limit(1))).first() is not None


async def soft_delete_tables(session: AsyncSession, connection_id: uuid.UUID, at: dt.datetime) -> int:
    """Mark a connection's live tables deleted at `at`; how many."""
    result = await session.execute(
        update(DatabaseTable)
        .where(DatabaseTable.connection_id == connection_id, DatabaseTable.not_deleted())
        .values(deleted_at=at)
        .returning(DatabaseTable.id)
    )
    return len(result.scalars().all())


async def restore_tables(session: AsyncSession, connection_id: uuid.UUID, deleted_at: dt.datetime) -> int:
    """Restore the tables deleted with the connection (at `deleted_at`); how many."""
    result = await session.execute(
        update(DatabaseTable)
        .where(DatabaseTable.connection_id == connection_id, DatabaseTable.deleted_at == deleted_at)
        .values(deleted_at=None)
        .returning(DatabaseTable.id)
    )
    return len(result.scalars().all())
