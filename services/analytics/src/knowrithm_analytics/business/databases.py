"""Database numbers for the dashboard: the company's connections, their tests and their tables.

A connection is `active` while it is live and `inactive` once deleted (ingestion's `is_active`:
deleting a connection, or `PATCH is_active: false`, is one and the same; restoring makes it
active again). Types count live connections by engine. `recent_tests` are the live connections'
last tests, newest first (`test_result` is ingestion's `test_status`: `ok` or `failed`;
`username` whoever ran it, null for an API key or a user analytics has not seen). Tables and
rows are those of the live connections as their last analysis stored them, less the tables
deleted since (rows counted exactly below 5 million, else the engine's estimate).
`total_size_bytes` sums the bytes on disk (with indexes) of the tables whose engine tells their
size (ingestion's analysis); null when no connection in scope has one (never a made-up 0).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.business.facts import Facts, counts, iso
from knowrithm_analytics.models import DatabaseConnectionFact, UserRegistration

RECENT_TESTS = 10


async def connection_count(session: AsyncSession, facts: Facts) -> int:
    """Live connections in scope."""
    stmt = select(func.count()).select_from(DatabaseConnectionFact).where(*facts.database_connections())
    return int(await session.scalar(stmt) or 0)


async def _recent_tests(session: AsyncSession, facts: Facts) -> list[dict[str, Any]]:
    connection = DatabaseConnectionFact
    stmt = (
        select(connection.name, connection.database_type, connection.tested_at, connection.test_valid,
               UserRegistration.username)
        .outerjoin(UserRegistration, UserRegistration.user_id == connection.tested_by)
        .where(*facts.database_connections(), connection.tested_at.is_not(None))
        .order_by(connection.tested_at.desc(), connection.database_connection_id)
        .limit(RECENT_TESTS)
    )
    return [
        {
            "connection_name": name,
            "database_type": database_type,
            "last_tested": iso(tested_at),
            "test_result": "ok" if valid else "failed",
            "username": username,
        }
        for name, database_type, tested_at, valid, username in await session.execute(stmt)
    ]


async def database_analytics(session: AsyncSession, facts: Facts) -> dict[str, Any]:
    """Connections by status and engine, the last tests, and the live connections' tables and rows."""
    connection = DatabaseConnectionFact
    inactive = select(func.count()).select_from(connection).where(*facts.database_connections(deleted=True))
    types = select(connection.database_type, func.count()).where(*facts.database_connections())
    tables = select(
        func.coalesce(func.sum(connection.table_count), 0),
        func.coalesce(func.sum(connection.total_rows), 0),
        func.sum(connection.total_size_bytes),
    ).where(*facts.database_connections())
    total_tables, total_rows, total_size = (await session.execute(tables)).one()
    return {
        "connection_status": {
            "active": await connection_count(session, facts),
            "inactive": int(await session.scalar(inactive) or 0),
        },
        "connection_types": counts(await session.execute(types.group_by(connection.database_type))),
        "recent_tests": await _recent_tests(session, facts),
        "table_analytics": {
            "total_tables": int(total_tables or 0),
            "total_rows": int(total_rows or 0),
            "total_size_bytes": None if total_size is None else int(total_size),
        },
    }
