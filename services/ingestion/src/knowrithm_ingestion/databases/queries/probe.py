"""Testing a connection now (`POST /database-connection/{id}/test`): the engine's probe with the
connection's spec and the ingestion allow-list. The result is stored on the connection
(`last_tested`, `test_status` ok|failed, `test_result` the message) and recorded as
`ingestion.database_connection.tested.v1` (never the URL). An unreachable server is an answer
(`is_valid: false` and why, no password); a refused host raises the engines' 422."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import DatabaseConnectionTestedV1
from knowrithm_ingestion.databases.engines import get_engine
from knowrithm_ingestion.databases.queries.service import engine_spec
from knowrithm_ingestion.models import DatabaseConnection, outbox
from knowrithm_ingestion.pipeline.deps import Deps


class ConnectionTested(BaseModel):
    """The reference API's three fields (`is_valid`, `message`, `tested_at`) and what the probe saw."""

    is_valid: bool
    message: str
    tested_at: dt.datetime
    server_version: str | None = None
    latency_ms: float | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="e.g. the account can write: use a read-only user (docs/ingestion.md)",
    )


async def probe_connection(
    session: AsyncSession, deps: Deps, connection: DatabaseConnection, *, actor: Actor | None = None
) -> ConnectionTested:
    """Probe the connection now, store the outcome on it and record the event."""
    async with engine_spec(deps, connection) as spec:
        probe = await get_engine(spec.engine).probe(spec, deps.settings.database_allowed())
    tested_at = utcnow()
    if probe.reachable:
        message = f"Connection successful ({probe.server_version or connection.database_type})"
        if probe.warnings:
            message += f"; {len(probe.warnings)} warning(s)"
    else:
        message = f"Connection failed: {probe.error or 'the database could not be reached'}"
    connection.last_tested = tested_at
    connection.test_status = "ok" if probe.reachable else "failed"
    connection.test_result = message[:4000]
    await session.flush()
    tested = DatabaseConnectionTestedV1(
        database_connection_id=connection.id,
        agent_id=connection.agent_id,
        is_valid=probe.reachable,
        server_version=probe.server_version,
        latency_ms=probe.latency_ms,
        warnings=list(probe.warnings),
    )
    await outbox.add(session, tested, company_id=connection.company_id, actor=actor)
    return ConnectionTested(
        is_valid=probe.reachable,
        message=message,
        tested_at=tested_at,
        server_version=probe.server_version,
        latency_ms=probe.latency_ms,
        warnings=list(probe.warnings),
    )
