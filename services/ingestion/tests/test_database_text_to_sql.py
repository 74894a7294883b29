"""Text-to-SQL and the language model's table summaries, through the real ingestion app and worker:
Chinook in the embedded PostgreSQL, in a MariaDB the fixtures start, and in an uploaded SQLite file.

The agent's language model is simulated: `knowrithm_common.llm.testing.LlmServer`, a local HTTP
server speaking OpenAI's chat-completions wire format, is the agent's openai-compatible model. It
describes tables from a fixed list and answers SQL prompts with the statement a test sets. The
agents service's credentials query (the LLM key) is answered beside the app by a stand-in; the
embedding model is the real offline embedder. Everything else is real.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import select

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1
from knowrithm_common.llm.testing import LlmServer, Reply, Request, openai_error, openai_stream
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import AGENT_CREDENTIALS_SUBJECT, AgentCredentialsReply, AgentCredentialsRequest
from knowrithm_ingestion.databases.texttosql.prompt import extract_pipeline, extract_sql
from knowrithm_ingestion.models import DatabaseTable, Document
from knowrithm_stack.chinook import CHINOOK_COLUMNS, CHINOOK_ROW_COUNTS, chinook_rows, load_postgres

from .support import add_agent, admin, agent_snapshot, apply_agent_event, create_connection, member, wait_for

BASE = "/api/v1/database-connection"
LLM_KEY = "sk-test-llm-key"
MODEL = "gpt-test"

# What the simulated model says each Chinook table holds.
DESCRIPTIONS = {
    "artist": "Musical artists: each row is one artist and its name; albums refer to it.",
    "album": "Music albums: each row is one album title, by an artist.",
    "track": "Songs: each row is one track of an album, with its genre, media type, composer, length and price.",
    "media_type": "File formats of the tracks, such as MPEG audio file or AAC audio file.",
    "genre": "Music genres such as Rock, Jazz or Metal; tracks refer to them.",
    "playlist": "Named playlists of tracks.",
    "playlist_track": "Links each playlist to the tracks it contains.",
    "employee": "Staff of the music store: names, job titles, managers and hire dates.",
    "customer": "Customers of the music store: their name, company, address, city, country, and the "
                "employee who supports them.",
    "invoice": "Invoices billed to customers: invoice date, billing address and country, and the total "
               "amount spent.",
    "invoice_line": "Lines of the invoices: which track was bought, at what unit price and quantity.",
}

QUESTION = "Which customers from Brazil spent the most on their invoices in total?"
BRAZIL_SQL = (
    "SELECT c.customer_id, c.first_name, c.last_name, ROUND(SUM(i.total), 2) AS spent FROM customer c "
    "JOIN invoice i ON i.customer_id = c.customer_id WHERE c.country = 'Brazil' "
    "GROUP BY c.customer_id, c.first_name, c.last_name ORDER BY spent DESC, c.customer_id LIMIT 10"
)


class Model:
    """The agent's openai-compatible model, as the LlmServer plays it."""

    def __init__(self) -> None:
        self.sql = "SELECT 1"
        self.answer: Reply | None = None  # a scripted reply to SQL prompts (errors)
        self.summaries_fail = False

    def respond(self, request: Request) -> Reply:
        system = request.body["messages"][0]["content"]
        if is_summary(request):
            if self.summaries_fail:
                return Reply(500, body=openai_error(500, "overloaded"))
            names = json.loads(re.search(r"exactly these keys: (\[.*?\])\.", system).group(1))
            described = {name: DESCRIPTIONS.get(name.rsplit(".", 1)[-1], f"The {name} table.") for name in names}
            return Reply(events=openai_stream([json.dumps(described)]))
        if self.answer is not None:
            return self.answer
        return Reply(events=openai_stream(["```sql\n", self.sql, "\n```"]))


def is_summary(request: Request) -> bool:
    return request.body["messages"][0]["content"].startswith("You describe the tables")


def sql_requests(server: LlmServer) -> list[Request]:
    return [r for r in server.requests if not is_summary(r)]


def summary_requests(server: LlmServer) -> list[Request]:
    return [r for r in server.requests if is_summary(r)]


@pytest.fixture(scope="module")
def model() -> Model:
    return Model()


@pytest.fixture(scope="module")
def llm(model):
    with LlmServer() as server:
        server.respond = model.respond
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def credentials(client):
    """The agents service's credentials query, answered with the agents' LLM key."""

    async def answer(request: AgentCredentialsRequest) -> AgentCredentialsReply:
        return AgentCredentialsReply(llm_api_key=LLM_KEY)

    nats = client.app.state.nats
    responder = RpcResponder(nats=nats, subject=AGENT_CREDENTIALS_SUBJECT, queue="agents",
                             request=AgentCredentialsRequest, handler=answer)
    await responder.start()
    await nats.client.flush()
    yield
    await responder.stop()


async def llm_agent(app, llm: LlmServer, *, provider: str = "openai-compatible") -> tuple[uuid.UUID, uuid.UUID]:
    """A company and its agent answering with the simulated model (applied as the agents event)."""
    snapshot = agent_snapshot()
    config = snapshot.configuration.model_copy(
        update={"llm_provider": provider, "llm_model": MODEL, "llm_api_base_url": f"{llm.url}/v1"}
    )
    snapshot = snapshot.model_copy(update={"configuration": config})
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    return snapshot.company_id, snapshot.agent_id


async def analyze(call, principal, connection_id) -> dict:
    r = await call("POST", f"{BASE}/{connection_id}/analyze", principal)
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]

    async def done():
        task = (await call("GET", status_url, principal)).json()
        return task if task["status"] in ("completed", "failed") else None

    task = await wait_for(done, timeout=120, interval=0.05)
    assert task["status"] == "completed", task
    return task


async def ask(call, principal, connection_id, **body):
    return await call("POST", f"{BASE}/{connection_id}/text-to-sql", principal, json={"question": QUESTION, **body})


def brazil_spending() -> list[tuple[int, str, str, Decimal]]:
    """What BRAZIL_SQL answers, computed from Chinook's own data."""
    rows = chinook_rows()
    customer = CHINOOK_COLUMNS["customer"]
    invoice = CHINOOK_COLUMNS["invoice"]
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for row in rows["invoice"]:
        totals[row[invoice.index("customer_id")]] += row[invoice.index("total")]
    brazil = [
        (r[customer.index("customer_id")], r[customer.index("first_name")], r[customer.index("last_name")],
         totals[r[customer.index("customer_id")]])
        for r in rows["customer"] if r[customer.index("country")] == "Brazil"
    ]
    return sorted(brazil, key=lambda r: (-r[3], r[0]))


def as_tuples(rows: list[dict]) -> list[tuple[int, str, str, Decimal]]:
    return [(r["customer_id"], r["first_name"], r["last_name"], Decimal(str(r["spent"])).quantize(Decimal("0.01")))
            for r in rows]


def test_the_sql_is_read_from_the_models_fence_or_its_bare_text():
    assert extract_sql("Here it is:\n```sql\nSELECT 1;\n```\nEnjoy") == "SELECT 1"
    assert extract_sql("```\nSELECT name FROM artist\n```") == "SELECT name FROM artist"
    assert extract_sql("```python\nx = 1\n```\n```sql\nSELECT 2\n```") == "SELECT 2"
    assert extract_sql("SQL: SELECT 3;;") == "SELECT 3"
    assert extract_sql("SELECT 1; DELETE FROM artist;") == "SELECT 1; DELETE FROM artist"  # the guard refuses it
    assert extract_pipeline('```json\n{"collection": "orders", "pipeline": [{"$limit": 1}]}\n```') == (
        "orders", [{"$limit": 1}])
    with pytest.raises(ValueError):
        extract_pipeline("I cannot answer that")


async def test_text_to_sql_offers_the_related_tables_and_its_sql_returns_the_right_rows(
    client, call, worker, llm, model, credentials, chinook
):
    company_id, agent_id = await llm_agent(client.app, llm)
    boss, reader = admin(company_id), member(company_id)
    connection_id = await create_connection(call, boss, agent_id, **chinook)
    await analyze(call, boss, connection_id)
    model.sql = BRAZIL_SQL

    # execute: the model's SQL runs through the guard and returns Chinook's answer
    before = len(sql_requests(llm))
    r = await ask(call, reader, connection_id, execute=True)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = brazil_spending()
    assert body["executed"] is True and body["row_count"] == len(expected) == 5
    assert as_tuples(body["rows"]) == expected
    assert body["columns"] == ["customer_id", "first_name", "last_name", "spent"]
    assert body["truncated"] is False and body["execution_time_ms"] >= 0
    assert body["connection_id"] == connection_id and body["question"] == QUESTION
    assert body["dialect"] == {"postgres": "postgresql", "mariadb": "mysql", "sqlite": "sqlite"}[chinook["database_type"]]
    assert {"customer", "invoice"} <= set(body["tables"]) and "media_type" not in body["tables"]

    # the prompt: the related tables as DDL with the model's summaries and masked samples, not the others
    [request] = sql_requests(llm)[before:]
    assert request.headers["authorization"] == f"Bearer {LLM_KEY}"
    system = request.body["messages"][0]["content"]
    assert "CREATE TABLE invoice (" in system and "CREATE TABLE customer (" in system
    assert "CREATE TABLE media_type (" not in system
    assert DESCRIPTIONS["invoice"] in system  # the stored LLM summary describes the table
    assert re.search(r"customer_id \w+.*REFERENCES customer\(customer_id\)", system)
    assert "luisg@embraer.com.br" not in system and "***@" in system  # sample rows masked
    assert "LIMIT 100" in system and request.body["messages"][-1] == {"role": "user", "content": QUESTION}

    # execute=false: the SQL only, as the guard regenerated it
    r = await ask(call, reader, connection_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["executed"] is False and body["rows"] == [] and body["row_count"] == 0
    assert body["execution_time_ms"] is None and "JOIN" in body["sql"].upper() and "LIMIT 10" in body["sql"]

    # result_limit clamps the model's LIMIT; more than 1,000 is refused
    r = await ask(call, reader, connection_id, execute=True, result_limit=3)
    assert r.status_code == 200, r.text
    assert as_tuples(r.json()["rows"]) == expected[:3] and "LIMIT 3" in r.json()["sql"]
    assert r.json()["truncated"] is True  # 5 rows answer the question: the 3 shown are not all
    assert (await ask(call, reader, connection_id, result_limit=1001)).status_code == 422

    # refused SQL from the model: 422 with the reason and the SQL, and nothing changed
    for refused in ("DROP TABLE artist", "SELECT 1; DELETE FROM artist"):
        model.sql = refused
        r = await ask(call, reader, connection_id, execute=True)
        assert r.status_code == 422, r.text
        error = r.json()
        assert error["error"] == "sql_refused" and error["detail"]["sql"] == refused and error["detail"]["reason"]
    model.sql = "SELECT count(*) AS n FROM artist"
    r = await ask(call, reader, connection_id, execute=True)
    assert r.status_code == 200, r.text
    assert [list(row.values()) for row in r.json()["rows"]] == [[CHINOOK_ROW_COUNTS["artist"]]]


async def test_offline_agents_unanalysed_connections_and_other_companies_are_refused(
    client, call, llm, model, credentials, chinook_pg
):
    company_id, agent_id = await add_agent(client.app)  # the offline provider
    boss = admin(company_id)
    offline = await create_connection(call, boss, agent_id, database_type="postgresql", url=chinook_pg)
    async with client.app.state.db.sessions() as session, session.begin():
        session.add(DatabaseTable(id=uuid.uuid4(), company_id=company_id, agent_id=agent_id,
                                  connection_id=uuid.UUID(offline), name="artist", schema_name="public",
                                  columns=[{"name": "artist_id", "type": "integer"}], primary_key=["artist_id"]))
    r = await ask(call, boss, offline)
    assert r.status_code == 422 and r.json()["error"] == "llm_required", r.text
    assert "language model" in r.json()["message"] and "agent's settings" in r.json()["message"]

    company_id, agent_id = await llm_agent(client.app, llm)
    boss = admin(company_id)
    fresh = await create_connection(call, boss, agent_id, database_type="postgresql", url=chinook_pg)
    r = await ask(call, boss, fresh)
    assert r.status_code == 409 and r.json()["error"] == "connection_not_analyzed", r.text

    stranger = admin(uuid.uuid4())
    for connection_id in (offline, fresh, str(uuid.uuid4())):
        r = await ask(call, stranger, connection_id)
        assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found", r.text
    assert (await call("POST", f"{BASE}/{fresh}/text-to-sql", boss, json={"question": ""})).status_code == 422


@pytest.fixture(scope="module")
def summaries_pg(stack) -> str:
    """Chinook in PostgreSQL of its own: a test changes its structure."""
    url = stack.create_database("chinook_t2s_summaries")
    load_postgres(url)
    return url


async def stored_tables(client, connection_id) -> dict[str, DatabaseTable]:
    async with client.app.state.db.sessions() as session:
        rows = await session.scalars(select(DatabaseTable).where(DatabaseTable.connection_id == uuid.UUID(connection_id)))
        return {t.name: t for t in rows}


async def summary_documents(client, connection_id, *, live: bool = True) -> list[Document]:
    async with client.app.state.db.sessions() as session:
        stmt = select(Document).where(Document.source_url.startswith(f"database-summary:{connection_id}:"))
        stmt = stmt.where(Document.deleted_at.is_(None) if live else Document.deleted_at.is_not(None))
        return list(await session.scalars(stmt.order_by(Document.source_url)))


async def test_llm_summaries_are_stored_embedded_and_not_asked_again_for_unchanged_tables(
    client, call, worker, llm, model, credentials, summaries_pg
):
    company_id, agent_id = await llm_agent(client.app, llm)
    boss = admin(company_id)
    connection_id = await create_connection(call, boss, agent_id, database_type="postgresql", url=summaries_pg)
    before = len(summary_requests(llm))
    task = await analyze(call, boss, connection_id)
    assert task["result"]["tables_summarized"] == 11 and "warnings" not in task["result"], task
    assert len(summary_requests(llm)) - before == 2  # 11 tables, 8 per prompt

    tables = await stored_tables(client, connection_id)
    assert {name: t.summary for name, t in tables.items()} == DESCRIPTIONS
    assert {t.summary_model for t in tables.values()} == {MODEL}
    assert all(t.summary_embedding and len(t.summary_embedding) == 384 for t in tables.values())
    assert {t.summary_embedding_model for t in tables.values()} == {"offline-embedder"}
    snapshot = (await call("GET", f"{BASE}/{connection_id}/semantic-snapshot", boss)).json()
    described = {t["name"]: (t["summary"], t["summary_source"]) for t in snapshot["tables"]}
    assert described["invoice"] == (DESCRIPTIONS["invoice"], "stored")

    # re-analysis of the unchanged schema: the model is not asked again, nothing changes
    before = len(summary_requests(llm))
    again = await analyze(call, boss, connection_id)
    assert len(summary_requests(llm)) == before
    assert (again["result"]["tables_changed"], again["result"]["tables_summarized"]) == ([], 0)

    # a changed table is described again, alone
    with psycopg.connect(summaries_pg, autocommit=True) as conn:
        conn.execute("ALTER TABLE genre ADD COLUMN description text")
    changed = await analyze(call, boss, connection_id)
    [request] = summary_requests(llm)[before:]
    assert "CREATE TABLE genre (" in request.body["messages"][1]["content"]
    assert "CREATE TABLE artist (" not in request.body["messages"][1]["content"]
    assert changed["result"]["tables_changed"] == ["genre"] and changed["result"]["tables_summarized"] == 1


async def test_a_failing_model_leaves_structure_summaries_and_a_warning(
    client, call, worker, llm, model, credentials, chinook_pg
):
    company_id, agent_id = await llm_agent(client.app, llm)
    boss = admin(company_id)
    connection_id = await create_connection(call, boss, agent_id, database_type="postgresql", url=chinook_pg)
    model.summaries_fail = True
    try:
        task = await analyze(call, boss, connection_id)
    finally:
        model.summaries_fail = False
    assert task["result"]["table_count"] == 11
    assert any("could not describe" in w for w in task["result"]["warnings"]), task
    tables = await stored_tables(client, connection_id)
    assert all(t.summary is None and t.summary_embedding for t in tables.values())  # structure, embedded
    # the model failing on a question: 503 (trying again may help) with its reason
    model.answer = Reply(503, body=openai_error(503, "overloaded"))
    try:
        r = await ask(call, boss, connection_id)
    finally:
        model.answer = None
    assert r.status_code == 503 and r.json()["error"] == "llm_failed", r.text
    assert "unavailable" in r.json()["message"]


async def test_table_summaries_are_documents_search_finds_and_a_deleted_table_hides(
    client, call, worker, llm, model, credentials, chinook_pg
):
    company_id, agent_id = await llm_agent(client.app, llm)
    boss, reader = admin(company_id), member(company_id)
    connection_id = await create_connection(call, boss, agent_id, database_type="postgresql", url=chinook_pg)
    name = (await call("GET", f"{BASE}/{connection_id}", boss)).json()["connection"]["name"]
    await analyze(call, boss, connection_id)

    async def processed():
        docs = await summary_documents(client, connection_id)
        return docs if len(docs) == 11 and all(d.status in ("processed", "failed") for d in docs) else None

    docs = await wait_for(processed, timeout=120)
    assert {d.status for d in docs} == {"processed"}, [d.processing_error for d in docs]
    query = {"query": "music genres such as Rock, Jazz or Metal", "agent_id": str(agent_id)}

    async def genre_hits():
        found = await call("POST", "/api/v1/search/document", reader, json=query)
        assert found.status_code == 200, found.text
        return [h for h in found.json()["results"] if h["document_name"] == f"{name} · public.genre (table summary)"]

    [hit] = await genre_hits()
    assert DESCRIPTIONS["genre"] in hit["content"]

    genre = (await stored_tables(client, connection_id))["genre"]
    r = await call("DELETE", f"{BASE}/table/{genre.id}", boss)
    assert r.status_code == 200, r.text
    assert await genre_hits() == []
    r = await call("PATCH", f"{BASE}/table/{genre.id}/restore", boss)
    assert r.status_code == 200, r.text
    assert len(await genre_hits()) == 1

    r = await call("DELETE", f"{BASE}/{connection_id}", boss)
    assert r.status_code == 200, r.text
    assert await summary_documents(client, connection_id) == [] and await genre_hits() == []
    assert len(await summary_documents(client, connection_id, live=False)) == 11
    r = await call("PATCH", f"{BASE}/{connection_id}/restore", boss)
    assert r.status_code == 200, r.text
    assert len(await summary_documents(client, connection_id)) == 11 and len(await genre_hits()) == 1


@pytest.fixture
def mongo_server():
    """MongoDB's wire protocol from mockupdb (no MongoDB server here): answers `aggregate` with two orders."""
    from mockupdb import MockupDB

    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    server.aggregates = []

    def answer(request):
        if request.command_name in ("hello", "ismaster", "isMaster"):
            return False
        if request.command_name != "aggregate":
            return request.ok()
        server.aggregates.append(request.doc)
        batch = [{"_id": 1, "city": "Oslo", "total": 12.5}, {"_id": 7, "city": "Oslo", "total": 3.0}]
        return request.ok(cursor={"id": 0, "ns": "shop.orders", "firstBatch": batch})

    server.autoresponds(answer)
    server.run()
    yield server
    server.stop()


async def test_mongodb_questions_get_a_guarded_aggregation_pipeline(
    client, call, llm, model, credentials, mongo_server
):
    company_id, agent_id = await llm_agent(client.app, llm)
    boss = admin(company_id)
    body = {"name": f"shop {uuid.uuid4().hex[:6]}", "database_type": "mongodb", "agent_id": str(agent_id),
            "url": f"mongodb://127.0.0.1:{mongo_server.port}/shop"}  # no user: mockupdb does no SCRAM
    r = await call("POST", BASE, boss, json=body)
    assert r.status_code == 201, r.text
    connection_id = r.json()["connection"]["id"]
    async with client.app.state.db.sessions() as session, session.begin():
        for name in ("orders", "customers"):
            session.add(DatabaseTable(
                id=uuid.uuid4(), company_id=company_id, agent_id=agent_id, connection_id=uuid.UUID(connection_id),
                name=name, schema_name="shop", primary_key=["_id"], foreign_keys=[],
                columns=[{"name": "_id", "type": "objectId"}, {"name": "city", "type": "string"}],
                sample_rows=[{"_id": 1, "city": "Oslo"}],
            ))
    pipeline = [{"$match": {"city": "Oslo"}}, {"$project": {"city": 1, "total": 1}}]
    model.answer = Reply(events=openai_stream(["```json\n", json.dumps({"collection": "orders", "pipeline": pipeline}),
                                               "\n```"]))
    try:
        r = await ask(call, boss, connection_id, question="Which orders were shipped to Oslo?", result_limit=5)
        assert r.status_code == 200, r.text
        assert r.json()["dialect"] == "mongodb" and r.json()["executed"] is False
        assert json.loads(r.json()["sql"]) == {"collection": "orders", "pipeline": [*pipeline, {"$limit": 5}]}
        system = sql_requests(llm)[-1].body["messages"][0]["content"]
        assert "COLLECTION orders (" in system and "COLLECTION customers (" in system

        r = await ask(call, boss, connection_id, question="Which orders were shipped to Oslo?", execute=True,
                      result_limit=5)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [{"_id": 1, "city": "Oslo", "total": 12.5}, {"_id": 7, "city": "Oslo", "total": 3.0}]
        [command] = mongo_server.aggregates
        assert command["aggregate"] == "orders" and command["pipeline"][:2] == pipeline

        for refused in ([{"$out": "stolen"}], [{"$match": {"$where": "sleep(1000)"}}]):
            model.answer = Reply(events=openai_stream([json.dumps({"collection": "orders", "pipeline": refused})]))
            r = await ask(call, boss, connection_id, execute=True)
            assert r.status_code == 422 and r.json()["error"] == "pipeline_refused", r.text
            assert json.loads(r.json()["detail"]["sql"])["pipeline"] == refused
        assert len(mongo_server.aggregates) == 1  # nothing refused reached the server
    finally:
        model.answer = None
