"""Sample queries of a connection, through the real ingestion app and worker: Chinook in the
embedded PostgreSQL, in the MariaDB the fixtures start (a SELECT-only user) and in an uploaded
SQLite file, created and analysed through the API; every offered query ran through the guard and
the engine (audited with source "sample") and returned rows. The candidates themselves (pure)
are checked on Chinook's structure in each dialect.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import psycopg
import pytest
from sqlalchemy import select

from knowrithm_ingestion.databases.guard import check_sql
from knowrithm_ingestion.databases.semantics.samples import candidates, jsonable
from knowrithm_ingestion.models import DatabaseQuery, DatabaseTable
from knowrithm_stack.chinook import CHINOOK_TABLES

from .support import add_agent, admin, create_connection, member
from .test_database_semantics import chinook as chinook_shapes

BASE = "/api/v1/database-connection"


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


create = create_connection


async def analyze(call, principal, connection_id) -> dict:
    accepted = await call("POST", f"{BASE}/{connection_id}/analyze", principal)
    assert accepted.status_code == 202, accepted.text
    url = accepted.json()["status_url"]
    for _ in range(3000):
        task = (await call("GET", url, principal)).json()
        if task["status"] in ("completed", "failed"):
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(f"the analysis did not finish: {task}")


async def audit(client, connection_id) -> list[DatabaseQuery]:
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseQuery).where(DatabaseQuery.connection_id == uuid.UUID(connection_id))
        return list((await session.scalars(stmt)).all())


async def test_sample_queries_of_chinook_all_ran_and_returned_rows(client, call, company, worker, chinook):
    company_id, agent_id, principal = company
    connection_id = await create(call, principal, agent_id, **chinook)
    path = f"{BASE}/{connection_id}/sample-queries"

    before = await call("GET", path, member(company_id))
    assert before.status_code == 409 and before.json()["error"] == "database_not_analyzed", before.text

    assert (await analyze(call, principal, connection_id))["status"] == "completed"
    r = await call("GET", path, member(company_id))
    assert r.status_code == 200, r.text
    body = r.json()
    queries = body["queries"]
    assert body["connection_id"] == connection_id and body["count"] == len(queries)
    assert 10 <= len(queries) <= 30, [q["title"] for q in queries]
    for q in queries:
        assert q["rows"] and len(q["rows"]) <= 5, q
        assert all(len(row) == len(q["columns"]) for row in q["rows"]), q
        assert q["sql"].upper().startswith("SELECT") and "LIMIT 5" in q["sql"].upper(), q["sql"]
        assert q["title"] and q["description"] and q["tables"]
    titles = {q["title"]: q for q in queries}

    # Joins along the foreign keys: albums with their artist's name, tracks with their album title.
    album = titles["album with their artist name"]
    assert album["columns"] == ["album_id", "title", "artist_name"]
    assert album["rows"][0] == [1, "For Those About To Rock We Salute You", "AC/DC"]
    assert "JOIN" in album["sql"].upper() and len(album["tables"]) == 2
    assert "track with their album title" in titles
    # First rows by key, an aggregate of an amount, rows per month.
    assert titles["First rows of artist"]["rows"][0] == [1, "AC/DC"]
    per_country = titles["Total total per billing_country"]
    assert per_country["rows"][0][0] == "USA" and per_country["columns"][1] == "total_total"
    assert round(float(per_country["rows"][0][1]), 2) == 523.06
    month = titles["invoice per month of invoice_date"]
    assert all(re.fullmatch(r"\d{4}-\d{2}", m) and n > 0 for m, n in month["rows"]), month
    assert [m for m, _ in month["rows"]] == sorted(m for m, _ in month["rows"])
    assert {t for q in queries for t in q["tables"] for t in [t.split(".")[-1]]} >= set(CHINOOK_TABLES) - {
        "playlist_track"
    }

    # Every one ran through run_query: audited with source "sample", none refused among the offered.
    rows = [a for a in await audit(client, connection_id) if a.source == "sample"]
    assert len([a for a in rows if a.outcome == "ok"]) >= len(queries)
    assert all(a.actor_kind == "user" for a in rows)

    # Another company sees nothing.
    stranger = await call("GET", path, admin(uuid.uuid4()))
    assert stranger.status_code == 404 and stranger.json()["error"] == "database_connection_not_found"
    assert (await call("GET", f"{BASE}/{uuid.uuid4()}/sample-queries", principal)).status_code == 404


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite", "cockroachdb"])
def test_every_candidate_passes_the_guard_and_quotes_its_identifiers(dialect):
    tables = chinook_shapes()
    names = [n for t in CHINOOK_TABLES for n in (t, f"public.{t}")]
    found = candidates(tables, dialect)
    assert len(found) >= 2 * len(CHINOOK_TABLES)
    quote = "`" if dialect == "mysql" else '"'
    for c in found:
        guarded = check_sql(c.sql, dialect=dialect, tables=names, limit=5)
        assert guarded.limit == 5
        assert f"{quote}public{quote}." in c.sql, c.sql
    inferred = candidates(chinook_shapes(foreign_keys=False), dialect)
    assert any(c.title == "album with their artist name" for c in inferred)


def test_cells_become_json():
    import datetime as dt
    import decimal

    assert jsonable(decimal.Decimal("1.99")) == 1.99
    assert jsonable(dt.datetime(2009, 1, 1)) == "2009-01-01T00:00:00"
    assert jsonable(b"\x00\x01") == "AAE="
    assert jsonable([decimal.Decimal("2"), None]) == [2.0, None]


SHOP = """
CREATE TABLE customer (customer_id int PRIMARY KEY, name text NOT NULL, country text);
CREATE TABLE purchase (purchase_id int PRIMARY KEY, customer_id int REFERENCES customer (customer_id),
                       total numeric, bought_at timestamp);
CREATE TABLE empty_note (note_id int PRIMARY KEY, body text);
INSERT INTO customer VALUES (1, 'Ana', 'Portugal'), (2, 'Bo', 'Norway');
INSERT INTO purchase VALUES (10, 1, 9.90, '2024-01-05'), (11, 2, 20.00, '2024-02-01'), (12, 1, 5, '2024-02-03');
"""


async def test_failing_refused_or_empty_candidates_are_left_out(client, call, company, worker, stack):
    _, agent_id, principal = company
    url = stack.create_database(f"samples_shop_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SHOP)
    connection_id = await create(call, principal, agent_id, database_type="postgresql", url=url)
    assert (await analyze(call, principal, connection_id))["status"] == "completed"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE customer CASCADE")  # analysed, gone: its queries fail on the server

    r = await call("GET", f"{BASE}/{connection_id}/sample-queries", principal)
    assert r.status_code == 200, r.text
    body = r.json()
    titles = [q["title"] for q in body["queries"]]
    assert titles == [
        "Top purchase by total",
        "purchase per month of bought_at",
        "First rows of purchase",
        "Rows in empty_note",
        "Rows in purchase",
    ], titles
    assert all(q["tables"] == ["public.purchase"] or q["tables"] == ["public.empty_note"] for q in body["queries"])
    assert body["note"] and "left out" in body["note"]
    month = next(q for q in body["queries"] if "month" in q["title"])
    assert month["rows"] == [["2024-01", 1], ["2024-02", 2]]
    outcomes = sorted({a.outcome for a in await audit(client, connection_id) if a.source == "sample"})
    assert outcomes == ["failed", "ok"]


async def test_a_mongodb_connection_has_no_sample_queries_and_a_note(client, call, company):
    company_id, agent_id, principal = company
    body = {"name": "mongo", "database_type": "mongodb", "url": "mongodb://reader:pw@127.0.0.1:1/shop",
            "agent_id": str(agent_id)}
    r = await call("POST", BASE, principal, json=body)
    assert r.status_code == 201, r.text
    connection_id = uuid.UUID(r.json()["connection"]["id"])
    async with client.app.state.db.sessions() as session:
        session.add(DatabaseTable(company_id=company_id, agent_id=agent_id, connection_id=connection_id,
                                  name="orders", schema_name="shop", columns=[{"name": "_id", "type": "objectId"}],
                                  primary_key=["_id"], foreign_keys=[], sample_rows=[]))
        await session.commit()
    r = await call("GET", f"{BASE}/{connection_id}/sample-queries", member(company_id))
    assert r.status_code == 200, r.text
    assert (r.json()["queries"], r.json()["count"]) == ([], 0) and "MongoDB" in r.json()["note"]
