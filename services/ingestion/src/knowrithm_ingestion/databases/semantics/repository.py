"""The analysed tables of one connection, for the semantics routes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable


async def live_tables(session: AsyncSession, connection: DatabaseConnection) -> Sequence[DatabaseTable]:
    """The connection's tables that are not soft-deleted, by schema then name."""
    stmt = (
        select(DatabaseTable)
        .where(
            DatabaseTable.connection_id == connection.id,
            DatabaseTable.company_id == connection.company_id,
            DatabaseTable.not_deleted(),
        )
        .order_by(DatabaseTable.schema_name, DatabaseTable.name, DatabaseTable.id)
    )
    return (await session.scalars(stmt)).all()
