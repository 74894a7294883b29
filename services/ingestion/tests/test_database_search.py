"""`POST /api/v1/search/database`: the caller's SQL, questions in words and MongoDB pipelines, on
Chinook in the embedded PostgreSQL, the fixtures' MariaDB (a SELECT-only user) and an uploaded
SQLite file, through the app as the gateway would call it. The agent's language model is simulated
(a local OpenAI-compatible server, `llm_agent`); MongoDB is a closed port (no server here).

Every active connection answers under its name (rows as objects, at most 100), one that refuses
or cannot be reached answers its error there without failing the others; a named connection's
refusal or failure is the request's; another company's connection is 404; each run is audited
and published as `ingestion.database.query.executed.v1` without the statement's text.
"""

from __future__ import annotations

import time
import uuid

import pytest
import pytest_asyncio
from sqlalchemy import select

from knowrithm_common.identity import Principal, Role
from knowrithm_common.llm.testing import LlmServer
from knowrithm_ingestion.databases.search.classify import kind_of
from knowrithm_ingestion.models import DatabaseConnection, DatabaseQuery, DatabaseTable, shared
from knowrithm_stack.chinook import CHINOOK_TABLES

from .llm_agent import ScriptedModel, llm_agent, serve_credentials
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


# --- questions in words: text-to-SQL with the agent's (simulated) model -------------------------


@pytest.fixture(scope="module")
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture(scope="module")
def llm(model):
    with LlmServer() as server:
        server.respond = model.respond
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def credentials(client):
    async for _ in serve_credentials(client.app.state.nats):
        yield


async def analysed(client, connection_id: str, schema: str | None) -> None:
    """The tables an analysis of Chinook stores (the analysis itself is tested elsewhere)."""
    async with client.app.state.db.sessions() as session:
        connection = (await session.scalars(
            select(DatabaseConnection).where(DatabaseConnection.id == uuid.UUID(connection_id)))).one()
        for name in CHINOOK_TABLES:
            session.add(DatabaseTable(company_id=connection.company_id, agent_id=connection.agent_id,
                                      connection_id=connection.id, name=name, schema_name=schema,
                                      columns=[], primary_key=[], foreign_keys=[], sample_rows=[]))
        await session.commit()


QUESTION = "In which city does our first customer live?"


async def test_a_question_is_answered_by_the_agents_model_on_each_connection(
    client, call, llm, model, credentials, chinook_pg, chinook_sqlite
):
    company_id, agent_id = await llm_agent(client.app, llm)
    principal = admin(company_id)
    pg = await create_connection(call, principal, agent_id, database_type="postgres", url=chinook_pg)
    lite = await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite)
    fresh = await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite)
    await analysed(client, pg, "public")
    await analysed(client, lite, None)
    model.answers[QUESTION] = CITY_SQL
    by_name = await names(call, principal, {"pg": pg, "lite": lite, "fresh": fresh})

    r = await call("POST", SEARCH, principal, json={"query": QUESTION})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[by_name["pg"]] == results[by_name["lite"]] == [{"city": CITY}]
    assert results[by_name["fresh"]]["code"] == "connection_not_analyzed"  # not analysed yet: said so
    [event] = await executed_events(client, pg)
    assert (event["data"]["source"], event["data"]["outcome"]) == ("model", "ok")

    # the model's SQL passes the guard like anyone's: a statement that writes is refused
    model.answers["Remove every artist please"] = "DELETE FROM artist"
    r = await call("POST", SEARCH, principal, json={"query": "Remove every artist please", "connection_id": pg})
    assert r.status_code == 422 and r.json()["error"] == "sql_refused"


async def test_a_question_needs_a_language_model(client, call, company, chinook_sqlite):
    _, agent_id, principal = company  # an agent on the offline provider
    lite = await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite)
    await analysed(client, lite, None)
    r = await call("POST", SEARCH, principal, json={"query": QUESTION})
    assert r.status_code == 200 and [v["code"] for v in r.json()["results"].values()] == ["llm_required"]
    r = await call("POST", SEARCH, principal, json={"query": QUESTION, "connection_id": lite})
    assert r.status_code == 422 and r.json()["error"] == "llm_required" and "language model" in r.json()["message"]


# --- MongoDB: the aggregate command as JSON ------------------------------------------------------


async def test_a_pipeline_goes_to_mongodb_connections_through_the_pipeline_guard(call, company, chinook_sqlite):
    """The MongoDB server is a closed port: a pipeline that passes the guard is tried (502), one that
    does not is refused before anything is sent (422)."""
    _, agent_id, principal = company
    r = await call("POST", BASE, principal, json={
        "name": "shop", "database_type": "mongodb", "url": "mongodb://u:secret-pw@127.0.0.1:1/shop",
        "agent_id": str(agent_id), "connection_params": {"connect_timeout": 1}})
    assert r.status_code == 201, r.text
    mongo = r.json()["connection"]["id"]
    lite = await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite)
    safe = '{"aggregate": "customers", "pipeline": [{"$match": {"country": "Brazil"}}]}'
    r = await call("POST", SEARCH, principal, json={"query": safe, "connection_id": mongo})
    assert r.status_code == 502 and r.json()["error"] == "database_unreachable" and "secret-pw" not in r.text
    out = '{"aggregate": "customers", "pipeline": [{"$out": "stolen"}]}'
    r = await call("POST", SEARCH, principal, json={"query": out, "connection_id": mongo})
    assert r.status_code == 422 and r.json()["error"] == "pipeline_refused" and "$out" in r.json()["message"]
    r = await call("POST", SEARCH, principal, json={"query": safe})
    results = r.json()["results"]
    assert {k: v["code"] for k, v in results.items()} == {
        n: c for n, c in zip((await names(call, principal, {"m": mongo, "l": lite})).values(),
                             ("database_unreachable", "pipeline_refused"), strict=True)}
    for bad in ('{"aggregate": "customers"}', '{"aggregate": 1, "pipeline": []}', "{not json",
                '{"aggregate": "c", "pipeline": [1]}'):
        r = await call("POST", SEARCH, principal, json={"query": bad})
        assert r.status_code == 422 and r.json()["error"] == "invalid_pipeline", bad


# --- which path a query takes -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind"), [
    pytest.param("SELECT * FROM customers LIMIT 10", "sql", id="sql-spec-example"),
    pytest.param("select name from artist", "sql", id="sql-lower-case"),
    pytest.param("WITH a AS (SELECT 1) SELECT * FROM a", "sql", id="sql-cte"),
    pytest.param("  (SELECT 1)", "sql", id="sql-parenthesized"),
    pytest.param("/*!50000 DROP TABLE artist*/", "sql", id="sql-versioned-comment"),
    pytest.param("-- a comment\nSELECT 1", "sql", id="sql-line-comment"),
    pytest.param("DROP TABLE artist", "sql", id="sql-drop"),
    pytest.param("Delete all customers", "sql", id="sql-delete-words"),
    pytest.param("LOCK TABLES artist WRITE", "sql", id="sql-lock-tables"),
    pytest.param("DO SLEEP(5)", "sql", id="sql-do-sleep"),
    pytest.param("SET @a = 1", "sql", id="sql-set-variable"),
    pytest.param("PRAGMA writable_schema=1", "sql", id="sql-pragma"),
    pytest.param("SELECT a FROM b WHERE c IS NULL", "sql", id="sql-is-null"),
    pytest.param('{"aggregate": "customers", "pipeline": []}', "pipeline", id="pipeline-aggregate-command"),
    pytest.param("How many customers live in Brazil?", "question", id="question-how-many"),
    pytest.param("Show me the top 5 customers by total spent", "question", id="question-show-me"),
    pytest.param("Which artist has the most albums", "question", id="question-which"),
    pytest.param("Select the customers from Brazil, please", "question", id="question-select-please"),
    pytest.param("Do we have customers in Norway?", "question", id="question-do-we"),
    pytest.param("List all albums of AC/DC", "question", id="question-list-all"),
    pytest.param("Count customers per country", "question", id="question-count-per"),
])
def test_a_query_is_sql_a_pipeline_or_a_question(text: str, kind: str) -> None:
    assert kind_of(text) == kind


async def test_connections_still_running_at_the_searchs_deadline_answer_so(
    call, company, chinook_pg, chinook_sqlite, monkeypatch
):
    """A query that runs longer than the search may wait (its deadline shortened here) is stopped
    there; the other connections' answers still come back."""
    from knowrithm_ingestion.databases.search import service

    monkeypatch.setattr(service, "DEADLINE_S", 1.0)
    _, agent_id, principal = company
    slow = await create_connection(call, principal, agent_id, database_type="postgres", url=chinook_pg)
    mongo = await create_connection(call, principal, agent_id, database_type="mongodb",
                                    url="mongodb://u:pw@127.0.0.1:1/shop")
    by_name = await names(call, principal, {"slow": slow, "mongo": mongo})
    started = time.monotonic()
    r = await call("POST", SEARCH, principal,
                   json={"query": "SELECT count(*) AS n FROM track a CROSS JOIN track b CROSS JOIN track c"})
    assert r.status_code == 200 and time.monotonic() - started < 5
    results = r.json()["results"]
    assert results[by_name["slow"]]["code"] == "database_search_deadline"
    assert results[by_name["mongo"]]["code"] == "sql_refused"
