"""`POST /api/v1/search/database`, the SQL path: the caller's SQL on Chinook in the embedded
PostgreSQL, the fixtures' MariaDB (a SELECT-only user) and an uploaded SQLite file, through the
app as the gateway would call it.

Every active connection answers under its name (rows as objects, at most 100), one that refuses
or cannot be reached answers its error there without failing the others; a named connection's
refusal or failure is the request's; another company's connection is 404; each run is audited
and published as `ingestion.database.query.executed.v1` without the statement's text.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from knowrithm_common.identity import Principal, Role
from knowrithm_ingestion.models import DatabaseQuery, shared

from .support import add_agent, admin, create_connection, member

SEARCH = "/api/v1/search/database"
BASE = "/api/v1/database-connection"
CITY = "São José dos Campos"
CITY_SQL = "SELECT city FROM customer WHERE customer_id = 1"
SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


@pytest.fixture
async def chinooks(call, company, chinook_pg, chinook_maria, chinook_sqlite) -> dict[str, str]:
    """Chinook on each engine as connections of the company: {engine: connection id}."""
    _, agent_id, principal = company
    return {
        "postgresql": await create_connection(call, principal, agent_id, database_type="postgres", url=chinook_pg),
        "mariadb": await create_connection(call, principal, agent_id, database_type="mariadb", url=chinook_maria),
        "sqlite": await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite),
    }


async def names(call, principal, ids) -> dict[str, str]:
    out = {}
    for engine, connection_id in ids.items():
        r = await call("GET", f"{BASE}/{connection_id}", principal)
        out[engine] = r.json()["connection"]["name"]
    return out


async def executed_events(client, connection_id) -> list[dict]:
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        rows = await session.execute(select(table.c.envelope).where(
            table.c.subject == "events.ingestion.database.query.executed.v1"))
        return [e for e in rows.scalars() if e["data"]["database_connection_id"] == str(connection_id)]


async def test_sql_runs_on_every_connection_and_answers_rows_by_name(client, call, company, chinooks):
    _, _, principal = company
    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL})
    assert r.status_code == 200, r.text
    out = r.json()
    by_name = await names(call, principal, chinooks)
    assert out["query"] == CITY_SQL and out["execution_time"] > 0
    assert out["results"] == {name: [{"city": CITY}] for name in by_name.values()}

    [event] = await executed_events(client, chinooks["postgresql"])
    assert event["data"]["source"] == "person" and event["data"]["outcome"] == "ok" and event["data"]["rows"] == 1
    assert event["actor"]["id"] == str(principal.user_id) and event["company_id"] == str(company[0])
    assert event["data"]["sql_sha256"] and "customer" not in str(event)


async def test_a_member_searches_and_a_read_only_api_key_may_not(call, company, chinooks):
    company_id, _, _ = company
    r = await call("POST", SEARCH, member(company_id), json={"query": "SELECT count(*) AS n FROM artist"})
    assert r.status_code == 200 and sorted(v[0]["n"] for v in r.json()["results"].values()) == [275] * 3
    key = Principal(kind="api_key", user_id=uuid.uuid4(), company_id=company_id, role=Role.ADMIN,
                    scopes=["read"], api_key_id=uuid.uuid4())
    assert (await call("POST", SEARCH, key, json={"query": CITY_SQL})).status_code == 403
    assert (await call("POST", SEARCH, key.model_copy(update={"scopes": ["write"]}),
                       json={"query": CITY_SQL})).status_code == 200


async def test_rows_are_capped_at_100_per_connection(call, company, chinooks):
    r = await call("POST", SEARCH, company[2], json={"query": "SELECT track_id, name FROM track ORDER BY track_id"})
    assert r.status_code == 200
    for rows in r.json()["results"].values():
        assert len(rows) == 100 and rows[0] == {"track_id": 1, "name": "For Those About To Rock (We Salute You)"}


async def test_repeated_column_names_are_all_kept(call, company, chinooks):
    sql = ("SELECT a.name, b.name FROM artist a JOIN album x ON x.artist_id = a.artist_id"
           " JOIN artist b ON b.artist_id = x.artist_id WHERE x.album_id = 1")
    r = await call("POST", SEARCH, company[2], json={"query": sql, "connection_id": chinooks["sqlite"]})
    assert r.status_code == 200, r.text
    [rows] = r.json()["results"].values()
    assert rows == [{"name": "AC/DC", "name_2": "AC/DC"}]


async def test_a_refusing_or_unreachable_connection_answers_its_error_and_the_others_their_rows(
    client, call, company, chinook_pg
):
    _, agent_id, principal = company
    good = await create_connection(call, principal, agent_id, database_type="postgres", url=chinook_pg)
    # nothing listens on port 1: unreachable; a MongoDB connection takes pipelines, not SQL
    down = await create_connection(call, principal, agent_id, database_type="postgres",
                                   url="postgresql://u:secret-pw@127.0.0.1:1/nowhere")
    mongo = await create_connection(call, principal, agent_id, database_type="mongodb",
                                    url="mongodb://u:secret-pw@127.0.0.1:1/shop")
    gone = await create_connection(call, principal, agent_id, database_type="postgres", url=chinook_pg)
    assert (await call("DELETE", f"{BASE}/{gone}", principal)).status_code == 200
    by_name = await names(call, principal, {"good": good, "down": down, "mongo": mongo})

    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert set(results) == set(by_name.values())  # the deleted one is not searched
    assert results[by_name["good"]] == [{"city": CITY}]
    assert results[by_name["down"]]["code"] == "database_unreachable"
    assert results[by_name["mongo"]] == {"code": "sql_refused", "error": results[by_name["mongo"]]["error"]}
    assert "pipeline" in results[by_name["mongo"]]["error"]
    assert "secret-pw" not in r.text

    r = await call("POST", SEARCH, principal, json={"query": "SELECT 1; DROP TABLE customer"})
    assert {v["code"] for v in r.json()["results"].values()} == {"sql_refused"}
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseQuery.outcome).where(DatabaseQuery.connection_id == uuid.UUID(down))
        assert sorted((await session.scalars(stmt)).all()) == ["failed", "refused"]


async def test_a_named_connection_answers_alone_and_its_refusal_or_failure_is_the_request(
    call, company, chinooks
):
    _, agent_id, principal = company
    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL, "connection_id": chinooks["mariadb"]})
    assert r.status_code == 200 and list(r.json()["results"].values()) == [[{"city": CITY}]]

    r = await call("POST", SEARCH, principal, json={"query": "DELETE FROM customer", "connection_id": chinooks["mariadb"]})
    assert r.status_code == 422 and r.json()["error"] == "sql_refused" and "DELETE" in r.json()["message"]

    down = await create_connection(call, principal, agent_id, database_type="mysql",
                                   url="mysql://u:secret-pw@127.0.0.1:1/nowhere")
    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL, "connection_id": down})
    assert r.status_code == 502 and r.json()["error"] == "database_unreachable" and "secret-pw" not in r.text


async def test_another_companys_or_a_deleted_connection_is_404(call, company, chinooks, client):
    other_company, _ = await add_agent(client.app)
    r = await call("POST", SEARCH, admin(other_company), json={"query": CITY_SQL, "connection_id": chinooks["sqlite"]})
    assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found"
    r = await call("POST", SEARCH, admin(other_company), json={"query": CITY_SQL})
    assert r.status_code == 200 and r.json()["results"] == {}  # a company without connections

    principal = company[2]
    assert (await call("DELETE", f"{BASE}/{chinooks['sqlite']}", principal)).status_code == 200
    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL, "connection_id": chinooks["sqlite"]})
    assert r.status_code == 404
    r = await call("POST", SEARCH, principal, json={"query": CITY_SQL, "connection_id": str(uuid.uuid4())})
    assert r.status_code == 404


async def test_a_super_admin_names_the_company(call, company, chinooks):
    company_id = company[0]
    r = await call("POST", SEARCH, SUPER, json={"query": CITY_SQL, "company_id": str(company_id)})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    r = await call("POST", SEARCH, SUPER, json={"query": CITY_SQL})
    assert r.status_code == 400 and r.json()["error"] == "company_id_required"
    r = await call("POST", SEARCH, admin(company_id), json={"query": CITY_SQL, "company_id": str(uuid.uuid4())})
    assert r.status_code == 404


async def test_colliding_connection_names_are_told_apart(call, company, chinook_sqlite, client):
    company_id, first_agent, principal = company
    _, second_agent = await add_agent(client.app, company_id=company_id)
    ids = []
    for agent_id in (first_agent, second_agent):
        r = await call("POST", BASE, principal, data={"name": "Shop", "database_type": "sqlite",
                                                      "agent_id": str(agent_id)},
                       files={"file": ("chinook.sqlite", chinook_sqlite)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["connection"]["id"])
    r = await call("POST", SEARCH, principal, json={"query": "SELECT count(*) AS n FROM genre"})
    assert r.json()["results"] == {f"Shop ({i[:8]})": [{"n": 25}] for i in ids}


@pytest.mark.parametrize(
    "body", [{"query": ""}, {"query": "   \n "}, {"query": "x" * 20_001}, {}, {"query": 5},
             {"query": "SELECT 1", "connection_id": "not-a-uuid"}],
    ids=["empty", "blank", "too-long", "missing", "not-a-string", "bad-connection-id"],
)
async def test_bad_bodies_are_422(call, company, body):
    r = await call("POST", SEARCH, company[2], json=body)
    assert r.status_code == 422, r.text
