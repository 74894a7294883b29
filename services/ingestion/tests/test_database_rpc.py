"""What chat's `query_database` tool asks of ingestion, over the real NATS, answered by the real
ingestion app's responders (`rpc.ingestion.database.catalog.v1`, `rpc.ingestion.database.query.v1`).

Chinook in the embedded PostgreSQL, the fixtures' MariaDB and an uploaded SQLite file; connections
created and analysed through the API and the worker. Queries go through `run_query` (the guard,
read-only execution, the audit): the rows are Chinook's, at most 20, a refused statement is the
guard's `sql_refused` with its reason (and audited as the model's), a slow one is cut at its
timeout, and only the agent's own live connections of its company answer.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, update

from knowrithm_common.messaging.rpc import RpcFailed, call
from knowrithm_common.queries import (
    DATABASE_CATALOG_SUBJECT,
    DATABASE_QUERY_SUBJECT,
    DatabaseCatalogReply,
    DatabaseCatalogRequest,
    DatabaseQueryReply,
    DatabaseQueryRequest,
)
from knowrithm_ingestion.models import DatabaseQuery, DatabaseTable
from knowrithm_stack.chinook import CHINOOK_COLUMNS, CHINOOK_TABLES, chinook_rows

from .support import add_agent, admin, create_connection
from .test_database_analysis import run_task

BASE = "/api/v1/database-connection"
SUMMARY = "The store's customers: names, addresses, contact details and their support representative."
SLOW = "SELECT count(*) FROM track a CROSS JOIN track b CROSS JOIN track c"
ANALYSED: dict[str, tuple] = {}  # per engine: one analysed connection serves the module's tests


@pytest.fixture
async def analysed(client, call, worker, chinook):
    """(company_id, agent_id, connection_id, dialect) of a Chinook connection analysed to completion."""
    if chinook["database_type"] not in ANALYSED:
        ANALYSED[chinook["database_type"]] = await _analyse(client, call, chinook)
    return ANALYSED[chinook["database_type"]]


async def _analyse(client, call, chinook) -> tuple:
    company_id, agent_id = await add_agent(client.app)
    principal = admin(company_id)
    connection_id = await create_connection(call, principal, agent_id, **chinook)
    task, _ = await run_task(call, principal, await call("POST", f"{BASE}/{connection_id}/analyze", principal))
    assert task["status"] == "completed", task
    async with client.app.state.db.sessions() as session, session.begin():  # as the summaries stage writes one
        await session.execute(update(DatabaseTable).where(DatabaseTable.connection_id == uuid.UUID(connection_id),
                                                          DatabaseTable.name == "customer").values(summary=SUMMARY))
    dialect = {"postgres": "postgresql", "mariadb": "mysql", "sqlite": "sqlite"}[chinook["database_type"]]
    return company_id, agent_id, uuid.UUID(connection_id), dialect


async def ask(client, company_id, agent_id, connection_id, sql, **kw) -> DatabaseQueryReply:
    request = DatabaseQueryRequest(company_id=company_id, agent_id=agent_id, connection_id=connection_id,
                                   sql=sql, **kw)
    return await call(client.app.state.nats, DATABASE_QUERY_SUBJECT, request, DatabaseQueryReply, timeout=20)


async def refused(client, *args, **kw) -> RpcFailed:
    with pytest.raises(RpcFailed) as failure:
        await ask(client, *args, **kw)
    return failure.value


async def test_catalog_names_the_agents_analysed_connections_with_tables_and_columns(client, analysed):
    company_id, agent_id, connection_id, dialect = analysed
    reply = await call(client.app.state.nats, DATABASE_CATALOG_SUBJECT,
                       DatabaseCatalogRequest(company_id=company_id, agent_id=agent_id), DatabaseCatalogReply)
    [connection] = reply.connections
    assert (connection.connection_id, connection.dialect) == (connection_id, dialect)
    assert connection.name.startswith("chinook ")
    assert sorted(t.name for t in connection.tables) == sorted(CHINOOK_TABLES)
    customer = next(t for t in connection.tables if t.name == "customer")
    assert [c.name for c in customer.columns] == list(CHINOOK_COLUMNS["customer"])
    assert all(c.type for c in customer.columns) and customer.summary == SUMMARY
    assert next(t for t in connection.tables if t.name == "track").summary is None  # none written (yet)

    other = await call(client.app.state.nats, DATABASE_CATALOG_SUBJECT,  # another agent of the company
                       DatabaseCatalogRequest(company_id=company_id, agent_id=uuid.uuid4()), DatabaseCatalogReply)
    assert other.connections == []


async def test_query_returns_chinooks_rows_through_the_guard_and_names_the_tables(client, analysed):
    company_id, agent_id, connection_id, dialect = analysed
    reply = await ask(client, company_id, agent_id, connection_id,
                      "SELECT c.first_name, c.city FROM customer c WHERE c.customer_id IN (1, 2)"
                      " ORDER BY c.customer_id")
    expected = [[row[1], row[5]] for row in chinook_rows()["customer"][:2]]
    assert (reply.columns, reply.rows) == (["first_name", "city"], expected)
    assert reply.rows[0][1] == "São José dos Campos"
    assert (reply.row_count, reply.truncated, reply.tables, reply.dialect) == (2, False, ["customer"], dialect)
    assert reply.connection_name.startswith("chinook ")

    many = await ask(client, company_id, agent_id, connection_id, "SELECT track_id, name FROM track ORDER BY 1",
                     limit=20)
    assert many.row_count == 20 and many.truncated  # Chinook has 3,503 tracks: 20 at most reach the model
    assert [row[0] for row in many.rows] == list(range(1, 21))

    joined = await ask(client, company_id, agent_id, connection_id,
                       "SELECT i.total FROM invoice i JOIN customer c ON c.customer_id = i.customer_id"
                       " WHERE c.customer_id = 1 ORDER BY i.invoice_id LIMIT 500", limit=5)
    assert joined.row_count == 5 and sorted(joined.tables) == ["customer", "invoice"]


async def test_refused_statement_is_sql_refused_with_the_reason_and_audited_as_the_models(client, analysed):
    company_id, agent_id, connection_id, _ = analysed
    failure = await refused(client, company_id, agent_id, connection_id, "DELETE FROM customer")
    assert failure.code == "sql_refused" and "not allowed" in failure.message and "DELETE" in failure.message.upper()
    assert (await ask(client, company_id, agent_id, connection_id, "SELECT count(*) FROM customer")).rows == [[59]]
    async with client.app.state.db.sessions() as session:
        audit = (await session.scalars(select(DatabaseQuery).where(DatabaseQuery.connection_id == connection_id)
                                       .order_by(DatabaseQuery.created_at))).all()
    assert [(a.source, a.outcome, a.actor_kind, a.actor_id) for a in audit[-2:]] == [
        ("model", "refused", "agent", agent_id), ("model", "ok", "agent", agent_id)]


async def test_only_the_agents_own_live_connection_of_its_company_answers(client, call, analysed):
    company_id, agent_id, connection_id, _ = analysed
    sql = "SELECT city FROM customer WHERE customer_id = 1"
    for company, agent in [(company_id, uuid.uuid4()), (uuid.uuid4(), agent_id)]:
        failure = await refused(client, company, agent, connection_id, sql)
        assert failure.code == "database_connection_not_found"
    r = await call("DELETE", f"{BASE}/{connection_id}", admin(company_id))
    assert r.status_code == 200, r.text
    assert (await refused(client, company_id, agent_id, connection_id, sql)).code == "database_connection_not_found"
    r = await call("PATCH", f"{BASE}/{connection_id}/restore", admin(company_id))
    assert r.status_code == 200, r.text
    assert (await ask(client, company_id, agent_id, connection_id, sql)).rows == [["São José dos Campos"]]


async def test_slow_query_is_cut_at_its_timeout(client, analysed):
    company_id, agent_id, connection_id, _ = analysed
    failure = await refused(client, company_id, agent_id, connection_id, SLOW, timeout_s=0.5)
    assert failure.code == "database_query_timeout"


async def test_more_than_20_rows_is_an_invalid_request(client, analysed):
    company_id, agent_id, connection_id, _ = analysed
    request = {"company_id": str(company_id), "agent_id": str(agent_id), "connection_id": str(connection_id),
               "sql": "SELECT 1", "limit": 21}
    msg = await client.app.state.nats.client.request(DATABASE_QUERY_SUBJECT, json.dumps(request).encode(),
                                                     timeout=5)
    assert json.loads(msg.data)["error"] == "invalid_request"
