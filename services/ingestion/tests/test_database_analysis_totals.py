"""The totals ingestion's table events carry for analytics (the dashboard's `table_analytics`):
Chinook in the embedded PostgreSQL analysed through the real app and worker, then a table deleted
and restored through the API; each event says the connection's live tables and rows after it.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from knowrithm_ingestion.models import shared
from knowrithm_stack.chinook import CHINOOK_ROW_COUNTS, CHINOOK_TABLES

from .support import add_agent, admin, create_connection
from .test_database_analysis import BASE, run_task, tables_of


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


async def table_events(client, connection_id: str) -> list[tuple[str, dict]]:
    """(type, data) of the connection's analysed and table events, in the order recorded."""
    table = shared.outbox
    subjects = [
        "events.ingestion.database_connection.analyzed.v1",
        "events.ingestion.database_table.deleted.v1",
        "events.ingestion.database_table.restored.v1",
    ]
    async with client.app.state.db.sessions() as session:
        stmt = select(table.c.envelope).where(table.c.subject.in_(subjects))
        rows = await session.execute(stmt.order_by(table.c.created_at, table.c.id))
        return [
            (e["type"], e["data"])
            for e in rows.scalars()
            if e["data"]["database_connection_id"] == connection_id
        ]


async def test_table_events_carry_the_connections_live_tables_and_rows(client, call, company, worker, chinook_pg):
    _, agent_id, principal = company
    connection_id = await create_connection(call, principal, agent_id, database_type="postgresql", url=chinook_pg)
    task, _ = await run_task(call, principal, await call("POST", f"{BASE}/{connection_id}/analyze", principal))
    assert task["status"] == "completed", task
    rows = sum(CHINOOK_ROW_COUNTS.values())
    assert rows == 15_607

    track = next(t for t in await tables_of(call, principal, connection_id) if t["table_name"] == "track")
    assert (await call("DELETE", f"{BASE}/table/{track['id']}", principal)).status_code == 200
    assert (await call("PATCH", f"{BASE}/table/{track['id']}/restore", principal)).status_code == 200
    r = await call("DELETE", f"{BASE}/{connection_id}/table", principal)
    assert r.status_code == 200 and r.json()["deleted_tables_count"] == len(CHINOOK_TABLES)

    events = await table_events(client, connection_id)
    assert [(kind.split(".")[-3], data["table_count"], data["total_rows"]) for kind, data in events] == [
        ("database_connection", 11, rows),
        ("database_table", 10, rows - CHINOOK_ROW_COUNTS["track"]),
        ("database_table", 11, rows),
        ("database_table", 0, 0),
    ]
    assert [kind.rsplit(".", 2)[-2] for kind, _ in events] == ["analyzed", "deleted", "restored", "deleted"]
    assert events[1][1]["table_ids"] == [track["id"]] and uuid.UUID(events[3][1]["table_ids"][0])
