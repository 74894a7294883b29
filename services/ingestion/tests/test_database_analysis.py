"""Analyses of companies' databases and the tables API, through the real ingestion app and worker:
Chinook in the embedded PostgreSQL, in a MariaDB the fixtures start, and in an uploaded SQLite
file. Connections are created through the API; the app and worker allow 127.0.0.1 (where the
test servers listen) with INGESTION_DATABASE_ALLOWLIST.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import psycopg
import pytest
from sqlalchemy import select

from knowrithm_ingestion.databases.analysis.service import active_tables
from knowrithm_ingestion.models import DatabaseTable, shared
from knowrithm_stack.chinook import (
    CHINOOK_FOREIGN_KEYS,
    CHINOOK_PRIMARY_KEYS,
    CHINOOK_ROW_COUNTS,
    CHINOOK_TABLES,
    chinook_rows,
)

from .support import add_agent, admin, create_connection, member

BASE = "/api/v1/database-connection"
SECRET = "An4lyse-Secret-pw"


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


create = create_connection


async def run_task(call, principal, accepted) -> tuple[dict, list[tuple[int, str]]]:
    """Poll a task to its end; (final status, every running (percent, stage) seen)."""
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["status_url"] == f"/api/v1/tasks/{body['task_id']}/status"
    seen: list[tuple[int, str]] = []
    for _ in range(3000):
        task = (await call("GET", body["status_url"], principal)).json()
        if task["status"] in ("completed", "failed"):
            return task, seen
        if task["status"] == "running" and (task["progress"], task["stage"]) not in seen:
            seen.append((task["progress"], task["stage"]))
        await asyncio.sleep(0.01)
    raise AssertionError(f"the task did not finish: {task}")


async def tables_of(call, principal, connection_id) -> list[dict]:
    r = await call("GET", f"{BASE}/{connection_id}/table", principal, params={"per_page": 100})
    assert r.status_code == 200, r.text
    return r.json()["tables"]


def foreign_keys(tables: list[dict]) -> set[tuple]:
    return {
        (t["table_name"], tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"]))
        for t in tables
        for fk in t["foreign_keys"]
    }


async def analyzed_events(client, connection_id) -> list[dict]:
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        stmt = select(table.c.envelope).where(table.c.subject == "events.ingestion.database_connection.analyzed.v1")
        rows = await session.execute(stmt.order_by(table.c.created_at, table.c.id))
        return [e["data"] for e in rows.scalars() if e["data"]["database_connection_id"] == str(connection_id)]


async def test_analysis_of_chinook_stores_its_tables_keys_and_masked_samples(client, call, company, worker, chinook):
    company_id, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, **chinook)

    task, seen = await run_task(call, principal, await call("POST", f"{BASE}/{connection_id}/analyze", principal))

    assert task["status"] == "completed", task
    assert (task["progress"], task["stage"]) == (100, "done")
    assert task["result"]["table_count"] == len(CHINOOK_TABLES)
    assert sorted(task["result"]["tables_added"]) == sorted(CHINOOK_TABLES)
    assert seen and all(0 <= p < 100 for p, _ in seen), seen
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)  # progress only grows
    stages = " | ".join(s for _, s in seen)
    assert re.search(r"(sample|count) table \d+ of 11", stages), stages

    tables = await tables_of(call, member(company_id), connection_id)
    assert sorted(t["table_name"] for t in tables) == sorted(CHINOOK_TABLES)
    assert {t["table_name"]: tuple(t["primary_key"]) for t in tables} == CHINOOK_PRIMARY_KEYS
    assert foreign_keys(tables) == set(CHINOOK_FOREIGN_KEYS)
    assert {t["table_name"]: t["row_count"] for t in tables} == CHINOOK_ROW_COUNTS
    customer = next(t for t in tables if t["table_name"] == "customer")
    columns = {c["name"]: c for c in customer["columns_info"]}
    assert columns["customer_id"]["primary_key"] and not columns["customer_id"]["nullable"]
    assert columns["company"]["nullable"] and "char" in columns["email"]["type"].lower()

    # Sample rows: five, e-mail addresses and phone numbers masked.
    assert len(customer["sample_rows"]) == 5
    for row in customer["sample_rows"]:
        assert re.fullmatch(r"\w\*\*\*@[\w.-]+", row["email"]), row["email"]
        assert row["phone"] is None or re.fullmatch(r"\*\*\*-\*\*\*-\d{4}", row["phone"]), row["phone"]
    emails = [r[-2] for r in chinook_rows()["customer"]]  # the customer's email is its last but one column
    r = await call("GET", f"{BASE}/table/{customer['id']}", principal)
    assert r.status_code == 200 and r.json()["table_name"] == "customer"
    assert not [e for e in emails if e in r.text]

    # Re-analysis of the unchanged database changes nothing.
    async with client.app.state.db.sessions() as session:
        before = {t.id: t.updated_at for t in await active_tables(session, uuid.UUID(connection_id))}
    again, _ = await run_task(call, principal, await call("POST", f"{BASE}/{connection_id}/analyze", principal))
    assert again["status"] == "completed", again
    assert (again["result"]["tables_added"], again["result"]["tables_changed"]) == ([], [])
    assert again["result"]["tables_removed"] == []
    async with client.app.state.db.sessions() as session:
        after = {t.id: t.updated_at for t in await active_tables(session, uuid.UUID(connection_id))}
    assert after == before
    events = await analyzed_events(client, connection_id)
    assert [e["table_count"] for e in events] == [11, 11]
    assert [e["tables_added"] for e in events] == [11, 0]


SHOP = """
CREATE TABLE customer (customer_id int PRIMARY KEY, email text NOT NULL, city text);
COMMENT ON COLUMN customer.city IS 'Where the customer lives';
CREATE TABLE purchase (purchase_id int PRIMARY KEY, customer_id int REFERENCES customer (customer_id), total numeric);
CREATE TABLE note (note_id int PRIMARY KEY, body text);
INSERT INTO customer VALUES (1, 'ana.silva@example.com', 'Lisbon'), (2, 'bo@example.org', 'Oslo');
INSERT INTO purchase VALUES (10, 1, 9.90);
INSERT INTO note VALUES (1, repeat('long ', 100));
"""


@pytest.fixture
def shop_pg(stack) -> str:
    url = stack.create_database(f"analysis_shop_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SHOP)
    return url


async def analyze(call, principal, connection_id) -> dict:
    task, _ = await run_task(call, principal, await call("POST", f"{BASE}/{connection_id}/analyze", principal))
    return task


async def test_a_changed_schema_is_updated_in_place_and_vanished_tables_soft_deleted(
    client, call, company, worker, shop_pg
):
    _, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, database_type="postgresql", url=shop_pg)
    assert (await analyze(call, principal, connection_id))["status"] == "completed"
    first = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    assert first["customer"]["columns_info"][2]["comment"] == "Where the customer lives"
    note = first["note"]["sample_rows"][0]["body"]
    assert len(note) == 200 and note.endswith("…")  # long values cut
    assert first["purchase"]["foreign_keys"] == [
        {"columns": ["customer_id"], "ref_table": "customer", "ref_columns": ["customer_id"], "ref_schema": "public"}
    ]

    with psycopg.connect(shop_pg, autocommit=True) as conn:
        conn.execute("ALTER TABLE customer ADD COLUMN phone text")
        conn.execute("DROP TABLE note")
        conn.execute("CREATE TABLE refund (refund_id int PRIMARY KEY)")
    task = await analyze(call, principal, connection_id)
    assert task["status"] == "completed", task
    result = task["result"]
    assert (result["tables_added"], result["tables_changed"], result["tables_removed"]) == (
        ["refund"], ["customer"], ["note"]
    )
    second = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    assert set(second) == {"customer", "purchase", "refund"}
    assert second["customer"]["id"] == first["customer"]["id"]  # updated in place
    assert [c["name"] for c in second["customer"]["columns_info"]][-1] == "phone"
    assert second["customer"]["updated_at"] > first["customer"]["updated_at"]
    assert second["purchase"]["updated_at"] == first["purchase"]["updated_at"]
    deleted = (await call("GET", f"{BASE}/table/deleted", principal)).json()["deleted_tables"]
    assert [t["table_name"] for t in deleted] == ["note"]


async def test_tables_routes_delete_restore_and_hide_them_from_other_companies(
    client, call, company, worker, shop_pg
):
    company_id, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, database_type="postgresql", url=shop_pg)
    assert (await analyze(call, principal, connection_id))["status"] == "completed"
    tables = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    customer = tables["customer"]["id"]
    paged = await call("GET", f"{BASE}/{connection_id}/table", principal, params={"per_page": 2})
    assert paged.json()["pagination"] | {} == paged.json()["pagination"]
    assert (len(paged.json()["tables"]), paged.json()["pagination"]["total"]) == (2, 3)
    assert paged.json()["connection"]["id"] == connection_id

    # Another company sees none of it.
    stranger = admin(uuid.uuid4())
    for method, path in [
        ("GET", f"{BASE}/{connection_id}/table"),
        ("DELETE", f"{BASE}/{connection_id}/table"),
        ("POST", f"{BASE}/{connection_id}/analyze"),
        ("GET", f"{BASE}/table/{customer}"),
        ("DELETE", f"{BASE}/table/{customer}"),
        ("PATCH", f"{BASE}/table/{customer}/restore"),
    ]:
        r = await call(method, path, stranger)
        assert r.status_code == 404, (method, path, r.text)
    assert (await call("GET", f"{BASE}/table/deleted", stranger)).json()["deleted_tables"] == []
    # Members read but do not change.
    assert (await call("DELETE", f"{BASE}/table/{customer}", member(company_id))).status_code == 403

    r = await call("DELETE", f"{BASE}/table/{customer}", principal)
    assert r.status_code == 200 and r.json()["table_id"] == customer
    assert (await call("GET", f"{BASE}/table/{customer}", principal)).status_code == 404
    assert {t["table_name"] for t in await tables_of(call, principal, connection_id)} == {"purchase", "note"}
    deleted = (await call("GET", f"{BASE}/table/deleted", principal)).json()["deleted_tables"]
    assert [t["id"] for t in deleted] == [customer] and deleted[0]["is_active"] is False

    # A deleted table stays deleted when the database is analysed again.
    task = await analyze(call, principal, connection_id)
    assert task["result"]["table_count"] == 2 and task["result"]["tables_added"] == []

    r = await call("PATCH", f"{BASE}/table/{customer}/restore", principal)
    assert r.status_code == 200 and r.json()["table"]["is_active"] is True
    assert (await call("PATCH", f"{BASE}/table/{customer}/restore", principal)).status_code == 404

    r = await call("DELETE", f"{BASE}/{connection_id}/table", principal)
    assert r.status_code == 200 and r.json()["deleted_tables_count"] == 3
    assert await tables_of(call, principal, connection_id) == []

    # Restoring a table of a deleted connection: 400 until the connection is restored.
    assert (await call("DELETE", f"{BASE}/{connection_id}", principal)).status_code == 200
    r = await call("PATCH", f"{BASE}/table/{customer}/restore", principal)
    assert r.status_code == 400 and r.json()["error"] == "database_connection_deleted"
    assert (await call("POST", f"{BASE}/{connection_id}/analyze", principal)).status_code == 404


async def test_analysis_of_an_unreachable_database_fails_with_a_reason_and_no_password(
    client, call, company, worker, stack
):
    _, agent_id, principal = company
    url = stack.create_database(f"analysis_gone_{uuid.uuid4().hex[:8]}")
    wrong = re.sub(r"//([^@/]*)@", f"//nobody:{SECRET}@", url)
    connection_id = await create(call, principal, agent_id, database_type="postgresql", url=wrong)
    task = await analyze(call, principal, connection_id)
    assert task["status"] == "failed", task
    assert task["error"] and SECRET not in task["error"]
    assert await tables_of(call, principal, connection_id) == []


async def test_analyze_all_runs_every_live_connection_of_the_company_or_one_agent(
    client, call, company, worker, shop_pg, chinook_sqlite
):
    company_id, agent_id, principal = company
    _, other_agent = await add_agent(client.app, company_id=company_id)
    pg = await create(call, principal, agent_id, database_type="postgresql", url=shop_pg)
    lite = await create(call, principal, other_agent, database_type="sqlite", file=chinook_sqlite)

    task, _ = await run_task(call, principal, await call("POST", f"{BASE}/analyze", principal))
    assert task["status"] == "completed", task
    outcomes = {o["connection_id"]: o for o in task["result"]["connections"]}
    assert {c: o["table_count"] for c, o in outcomes.items()} == {pg: 3, lite: 11}

    one, _ = await run_task(
        call, principal, await call("POST", f"{BASE}/analyze", principal, json={"agent_id": str(other_agent)})
    )
    assert [o["connection_id"] for o in one["result"]["connections"]] == [lite]
    assert one["result"]["connections"][0]["tables_changed"] == []
    r = await call("POST", f"{BASE}/analyze", principal, json={"agent_id": "x", "extra": 1})
    assert r.status_code == 422
    async with client.app.state.db.sessions() as session:
        rows = (await session.scalars(select(DatabaseTable).where(DatabaseTable.company_id == company_id))).all()
    assert len(rows) == 14


def _set_artist_comment(request, chinook: dict, comment: str | None) -> None:
    """Give (None: take away) Chinook's `artist` table a comment in its own database, as its owner."""
    if chinook["database_type"] == "postgres":
        with psycopg.connect(chinook["url"], autocommit=True) as conn:
            text = "NULL" if comment is None else f"'{comment}'"
            conn.execute(f"COMMENT ON TABLE artist IS {text}")
    elif chinook["database_type"] == "mariadb":
        import pymysql

        from knowrithm_stack.mariadb import mysql_connect_args

        database = chinook["url"].rsplit("/", 1)[-1].split("?")[0]
        conn = pymysql.connect(**mysql_connect_args(request.getfixturevalue("mariadb").url), autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"ALTER TABLE `{database}`.artist COMMENT = %s", (comment or "",))
        finally:
            conn.close()


def _sqlite_has_dbstat() -> bool:
    import sqlite3

    try:
        sqlite3.connect(":memory:").execute("SELECT count(*) FROM dbstat").fetchone()
    except sqlite3.Error:
        return False
    return True


async def test_tables_keep_their_comment_and_size_and_the_connection_when_it_was_last_analysed(
    client, call, company, worker, chinook, request
):
    """Each table keeps its own comment (PostgreSQL COMMENT ON TABLE, MariaDB's table COMMENT; SQLite
    has none) and its size on disk; each analysis stamps `last_analyzed`, and an unchanged database
    leaves `updated_at` (last changed) alone."""
    _, agent_id, principal = company
    comment = "Every recording artist, one row each"
    _set_artist_comment(request, chinook, comment)
    try:
        connection_id = await create(call, principal, agent_id, **chinook)
        path = f"{BASE}/{connection_id}"
        never = (await call("GET", path, principal)).json()["connection"]
        assert never["last_analyzed"] is None
        assert (await analyze(call, principal, connection_id))["status"] == "completed"
    finally:
        _set_artist_comment(request, chinook, None)

    first = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    connection = (await call("GET", path, principal)).json()["connection"]
    assert connection["last_analyzed"] is not None
    listed = (await call("GET", f"{path}/table", principal)).json()["connection"]
    assert listed["last_analyzed"] == connection["last_analyzed"]
    assert {t["last_analyzed"] for t in first.values()} == {connection["last_analyzed"]}
    if chinook["database_type"] == "sqlite":
        assert {t["comment"] for t in first.values()} == {None}
    else:
        assert first["artist"]["comment"] == comment
        assert {t["comment"] for n, t in first.items() if n != "artist"} == {None}
    one = (await call("GET", f"{BASE}/table/{first['artist']['id']}", principal)).json()
    assert one["comment"] == first["artist"]["comment"] and one["table_size"] == first["artist"]["table_size"]
    if chinook["database_type"] != "sqlite":  # the owner's words reach the snapshot's description
        snapshot = (await call("GET", f"{path}/semantic-snapshot", principal)).json()
        assert comment in json.dumps(snapshot), snapshot

    sizes = {name: t["table_size"] for name, t in first.items()}
    if chinook["database_type"] == "sqlite" and not _sqlite_has_dbstat():
        assert set(sizes.values()) == {None}
    else:  # every table takes room; the largest (by rows) takes more than the smallest
        assert all(isinstance(s, int) and s > 0 for s in sizes.values()), sizes
        assert sizes["playlist_track"] > sizes["media_type"], sizes
    events = await analyzed_events(client, connection_id)
    known = [s for s in sizes.values() if s is not None]
    assert events[-1]["total_size_bytes"] == (sum(known) if known else None)

    # Again, on the same (now comment-less on artist) database: only `artist` changed; then once
    # more, unchanged: nothing but `last_analyzed` moves.
    second_task = await analyze(call, principal, connection_id)
    changed = ["artist"] if chinook["database_type"] != "sqlite" else []
    assert second_task["result"]["tables_changed"] == changed, second_task
    second = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    middle = (await call("GET", path, principal)).json()["connection"]
    third_task = await analyze(call, principal, connection_id)
    assert third_task["result"]["tables_changed"] == [] and third_task["result"]["tables_added"] == []
    third = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    latest = (await call("GET", path, principal)).json()["connection"]
    assert latest["last_analyzed"] > middle["last_analyzed"] > connection["last_analyzed"]
    assert latest["updated_at"] == connection["updated_at"]  # analyses do not change the connection
    assert {n: t["updated_at"] for n, t in third.items()} == {n: t["updated_at"] for n, t in second.items()}
    assert {t["last_analyzed"] for t in third.values()} == {latest["last_analyzed"]}
    assert third["artist"]["comment"] is None and {n: t["table_size"] for n, t in third.items()} == sizes


async def test_table_events_carry_the_live_tables_size(client, call, company, worker, chinook_pg):
    """Deleting a table takes its size out of the connection's total; restoring it puts it back."""
    from .test_database_analysis_totals import table_events

    _, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, database_type="postgresql", url=chinook_pg)
    assert (await analyze(call, principal, connection_id))["status"] == "completed"
    tables = {t["table_name"]: t for t in await tables_of(call, principal, connection_id)}
    total = sum(t["table_size"] for t in tables.values())
    track = tables["track"]
    assert (await call("DELETE", f"{BASE}/table/{track['id']}", principal)).status_code == 200
    assert (await call("PATCH", f"{BASE}/table/{track['id']}/restore", principal)).status_code == 200
    events = await table_events(client, connection_id)
    assert [data["total_size_bytes"] for _, data in events] == [total, total - track["table_size"], total]
