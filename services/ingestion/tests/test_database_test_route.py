"""`POST /database-connection/{id}/test` through the real ingestion app against real servers: the
embedded PostgreSQL, the `mariadb` fixture's MariaDB and an uploaded SQLite file. The app runs
with an ENCRYPTION_KEY and INGESTION_DATABASE_ALLOWLIST=127.0.0.1/32 (the test servers' address)."""

from __future__ import annotations

import json
import socket
import sqlite3
import uuid

import psycopg
import pytest
from sqlalchemy import select, update

from knowrithm_common.crypto import SecretBox, generate_key
from knowrithm_common.testing import service_client
from knowrithm_ingestion.models import DatabaseConnection, shared

from .support import add_agent, admin, member

KEY = generate_key()
BASE = "/api/v1/database-connection"
PASSWORD = "Pw-t3st-route-9"


@pytest.fixture(scope="session")
def test_route_env(ingestion_env) -> dict[str, str]:
    return {**ingestion_env, "ENCRYPTION_KEY": KEY}


client = service_client("knowrithm_ingestion.main:create_app", env="test_route_env", agents_owner=True)


@pytest.fixture(scope="module")
def pg_urls(stack) -> dict[str, str]:
    url = stack.create_database("test_route_pg")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id int)")
        conn.execute("DROP ROLE IF EXISTS route_reader")
        conn.execute(f"CREATE ROLE route_reader LOGIN PASSWORD '{PASSWORD}'")
        conn.execute("GRANT SELECT ON t TO route_reader")
    return {"super": url, "reader": url.replace("postgres@", f"route_reader:{PASSWORD}@")}


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def create(call, principal, agent_id, url: str, database_type: str = "postgresql") -> str:
    body = {"name": f"db {uuid.uuid4().hex[:6]}", "database_type": database_type, "url": url,
            "agent_id": str(agent_id)}
    r = await call("POST", BASE, principal, json=body)
    assert r.status_code == 201, r.text
    return r.json()["connection"]["id"]


async def stored(client, connection_id) -> DatabaseConnection:
    async with client.app.state.db.sessions() as session:
        return (await session.scalars(select(DatabaseConnection).where(DatabaseConnection.id == connection_id))).one()


async def events_tested(client, connection_id) -> list[dict]:
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        rows = await session.execute(select(table.c.envelope).where(table.c.subject.like("events.ingestion.database%")))
        return [e for e in rows.scalars() if e["type"] == "ingestion.database_connection.tested.v1"
                and e["data"]["database_connection_id"] == str(connection_id)]


async def test_postgres_reader_is_valid_superuser_gets_a_warning_and_both_are_stored(client, call, company, pg_urls):
    _, agent_id, principal = company
    reader = await create(call, principal, agent_id, pg_urls["reader"])
    r = await call("POST", f"{BASE}/{reader}/test", principal)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["is_valid"] is True and out["warnings"] == []
    assert out["server_version"] and out["latency_ms"] >= 0 and out["tested_at"]
    assert set(out) >= {"is_valid", "message", "tested_at", "server_version", "latency_ms", "warnings"}
    row = await stored(client, reader)
    assert (row.test_status, row.test_result, row.last_tested is not None) == ("ok", out["message"], True)

    superuser = await create(call, principal, agent_id, pg_urls["super"])
    out = (await call("POST", f"{BASE}/{superuser}/test", principal)).json()
    assert out["is_valid"] is True and out["warnings"], out
    assert "warning" in out["message"]

    events = await events_tested(client, reader)
    assert len(events) == 1 and events[0]["data"]["is_valid"] is True
    assert PASSWORD not in json.dumps(events) and "url" not in events[0]["data"]


async def test_unreachable_is_an_answer_without_the_password(client, call, company):
    _, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, f"postgresql://u:{PASSWORD}@127.0.0.1:{closed_port()}/x")
    r = await call("POST", f"{BASE}/{connection_id}/test", principal)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["is_valid"] is False and out["message"].startswith("Connection failed")
    assert PASSWORD not in r.text
    row = await stored(client, connection_id)
    assert row.test_status == "failed" and PASSWORD not in (row.test_result or "")
    events = await events_tested(client, connection_id)
    assert [e["data"]["is_valid"] for e in events] == [False] and PASSWORD not in json.dumps(events)


async def test_a_host_the_allow_list_no_longer_names_is_a_422(client, call, company):
    """The stored URL points at a private address that is not allow-listed (as after the operator
    narrowed INGESTION_DATABASE_ALLOWLIST): the probe refuses it before sending anything."""
    _, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, f"postgresql://u:{PASSWORD}@127.0.0.1:5432/x")
    async with client.app.state.db.sessions() as session:
        encrypted = SecretBox(KEY).encrypt(f"postgresql://u:{PASSWORD}@10.9.8.7:5432/x")
        await session.execute(update(DatabaseConnection).where(DatabaseConnection.id == uuid.UUID(connection_id))
                              .values(url_encrypted=encrypted))
        await session.commit()
    r = await call("POST", f"{BASE}/{connection_id}/test", principal)
    assert (r.status_code, r.json()["error"]) == (422, "database_host_refused"), r.text
    assert PASSWORD not in r.text
    assert (await stored(client, connection_id)).test_status is None


async def test_mariadb_reader_and_root(call, company, mariadb):
    _, agent_id, principal = company
    url = mariadb.create_database("test_route_maria")
    reader = mariadb.create_user("test_route_reader", database="test_route_maria")
    out = (await call("POST", f"{BASE}/{await create(call, principal, agent_id, reader, 'mysql')}/test", principal)).json()
    assert out["is_valid"] is True and out["warnings"] == [] and "mariadb" in out["server_version"].lower()
    out = (await call("POST", f"{BASE}/{await create(call, principal, agent_id, url, 'mysql')}/test", principal)).json()
    assert out["is_valid"] is True and out["warnings"], out


async def test_uploaded_sqlite_file(call, company, tmp_path):
    _, agent_id, principal = company
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, city TEXT)")
    form = {"name": "Shop file", "database_type": "sqlite", "agent_id": str(agent_id)}
    r = await call("POST", BASE, principal, data=form, files={"file": ("shop.sqlite", path.read_bytes())})
    assert r.status_code == 201, r.text
    out = (await call("POST", f"{BASE}/{r.json()['connection']['id']}/test", principal)).json()
    assert out["is_valid"] is True and out["server_version"], out


async def test_members_cannot_test_and_other_companies_get_404(client, call, company, pg_urls):
    company_id, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, pg_urls["reader"])
    r = await call("POST", f"{BASE}/{connection_id}/test", member(company_id))
    assert r.status_code == 403, r.text
    other_company, _ = await add_agent(client.app)
    r = await call("POST", f"{BASE}/{connection_id}/test", admin(other_company))
    assert (r.status_code, r.json()["error"]) == (404, "database_connection_not_found")
    r = await call("POST", f"{BASE}/{uuid.uuid4()}/test", principal)
    assert r.status_code == 404


async def test_a_mongodb_login_the_driver_cannot_follow_is_a_failed_test_not_a_500(client, call, company):
    """MongoDB is not run here: mockupdb (MongoDB's wire-protocol test server) answers the SCRAM login
    with a bare `ok`, which breaks pymongo's own authentication code. The test route answers a failed
    test naming the server, never a 500 and never the password."""
    from mockupdb import MockupDB

    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    server.run()
    server.autoresponds(lambda r: False if r.command_name in ("hello", "ismaster", "isMaster") else r.ok())
    try:
        _, agent_id, principal = company
        url = f"mongodb://reader:{PASSWORD}@127.0.0.1:{server.port}/shop"
        connection_id = await create(call, principal, agent_id, url, "mongodb")
        r = await call("POST", f"{BASE}/{connection_id}/test", principal)
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["is_valid"] is False and f"127.0.0.1:{server.port}" in out["message"]
    assert "could not be understood" in out["message"] and PASSWORD not in r.text
    row = await stored(client, connection_id)
    assert row.test_status == "failed" and PASSWORD not in (row.test_result or "")
