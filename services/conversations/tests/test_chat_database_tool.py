"""Chat answers from a company's database with the `query_database` tool, on the real conversations
app and answer pipeline (PostgreSQL, NATS and Redis from the embedded stack).

Simulated, and why:
- The model is the local OpenAI-compatible wire-format server (`knowrithm_common.llm.testing`):
  no paid API is called. It is scripted per test and records every request, so the tests read
  exactly what the model was sent (the tool, the fenced rows, the errors).
- Ingestion does not run here. Its two subjects, `rpc.ingestion.database.catalog.v1` and
  `rpc.ingestion.database.query.v1`, are answered on the real NATS by `DatabasesStandIn` with
  Chinook's own rows (`knowrithm_stack.chinook`) for the statements a test scripts, and with
  ingestion's `sql_refused` error for any other: that is the other service's contract, not
  conversations' own infrastructure. Ingestion's side of the contract (the guard, the real
  engines, the audit) is tested in services/ingestion/tests/test_database_rpc.py.
- The agents service's `rpc.agents.credentials.v1` answers the agent's API key the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import pytest

from knowrithm_common.errors import ServiceUnavailable, ValidationFailed
from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1
from knowrithm_common.llm.testing import (
    LlmServer,
    Reply,
    Request,
    gemini_function_calls,
    gemini_stream,
    openai_stream,
    openai_tool_calls,
)
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import (
    AGENT_CREDENTIALS_SUBJECT,
    DATABASE_CATALOG_SUBJECT,
    DATABASE_QUERY_SUBJECT,
    AgentCredentialsReply,
    AgentCredentialsRequest,
    CatalogColumn,
    CatalogConnection,
    CatalogTable,
    DatabaseCatalogReply,
    DatabaseCatalogRequest,
    DatabaseQueryReply,
    DatabaseQueryRequest,
)
from knowrithm_conversations.chat.database_tool import MAX_ROUNDS
from knowrithm_stack.chinook import CHINOOK_COLUMNS, chinook_rows

from .chat_support import new_conversation, sse_events
from .support import agent_snapshot, apply_agent_event, member

CITY_SQL = "SELECT first_name, city FROM customer WHERE customer_id = 1"
TRACKS_SQL = "SELECT track_id, name, composer FROM track ORDER BY track_id"
QUESTION = "Which city does customer 1 live in?"
ANSWER = "Luís Gonçalves lives in São José dos Campos [1]."
LONG = "x" * 500


class SqlRefusedByIngestion(ValidationFailed):
    """Ingestion's guard refusal, as its responder sends it (code and message)."""

    code = "sql_refused"


class DatabasesStandIn:
    """Answers ingestion's catalog and query subjects for the agents a test registers."""

    def __init__(self, nats: Any) -> None:
        self.catalogs: dict[uuid.UUID, list[CatalogConnection]] = {}
        self.broken: set[uuid.UUID] = set()
        self.catalog_requests: list[DatabaseCatalogRequest] = []
        self.queries: list[DatabaseQueryRequest] = []
        self.responders = [
            RpcResponder(nats=nats, subject=DATABASE_CATALOG_SUBJECT, queue="databases-stand-in",
                         request=DatabaseCatalogRequest, handler=self._catalog),
            RpcResponder(nats=nats, subject=DATABASE_QUERY_SUBJECT, queue="databases-stand-in",
                         request=DatabaseQueryRequest, handler=self._query),
            RpcResponder(nats=nats, subject=AGENT_CREDENTIALS_SUBJECT, queue="agents-stand-in",
                         request=AgentCredentialsRequest, handler=self._credentials),
        ]

    async def _credentials(self, request: AgentCredentialsRequest) -> AgentCredentialsReply:
        return AgentCredentialsReply(llm_api_key="sk-test")

    async def _catalog(self, request: DatabaseCatalogRequest) -> DatabaseCatalogReply:
        self.catalog_requests.append(request)
        if request.agent_id in self.broken:
            raise ServiceUnavailable("the database is down")
        return DatabaseCatalogReply(connections=self.catalogs.get(request.agent_id, []))

    async def _query(self, request: DatabaseQueryRequest) -> DatabaseQueryReply:
        self.queries.append(request)
        [connection] = self.catalogs[request.agent_id]
        common = {"connection_id": connection.connection_id, "connection_name": connection.name,
                  "dialect": connection.dialect, "elapsed_ms": 3.0}
        customers, tracks = chinook_rows()["customer"], chinook_rows()["track"]
        if request.sql == CITY_SQL:
            return DatabaseQueryReply(**common, tables=["customer"], columns=["first_name", "city"],
                                      rows=[[customers[0][1], customers[0][5]]], row_count=1, truncated=False)
        if request.sql == TRACKS_SQL:  # as ingestion cuts it: `limit` rows; a long value (as it could be)
            rows = [[t[0], t[1], LONG if i == 0 else t[5]] for i, t in enumerate(tracks[: request.limit])]
            return DatabaseQueryReply(**common, tables=["track"], columns=["track_id", "name", "composer"],
                                      rows=rows, row_count=len(rows), truncated=True)
        raise SqlRefusedByIngestion(f"This SQL is not allowed: {request.sql.split()[0].upper()} is not a query")


@pytest.fixture(scope="module")
async def databases(client):
    stand_in = DatabasesStandIn(client.app.state.nats)
    for responder in stand_in.responders:
        await responder.start()
    yield stand_in
    for responder in stand_in.responders:
        await responder.stop()


@pytest.fixture
def llm():
    with LlmServer() as server:
        yield server


def chinook_catalog() -> list[CatalogConnection]:
    types = {"customer_id": "INTEGER", "support_rep_id": "INTEGER"}
    tables = [
        CatalogTable(name=name, schema_name="public", summary=summary,
                     columns=[CatalogColumn(name=c, type=types.get(c, "VARCHAR(40)")) for c in CHINOOK_COLUMNS[name]])
        for name, summary in [("customer", "The store's customers and where they live."), ("track", None)]
    ]
    return [CatalogConnection(connection_id=uuid.uuid4(), name="Chinook", dialect="postgresql", tables=tables)]


async def openai_agent(client, llm: LlmServer, *, provider: str = "openai-compatible") -> tuple[uuid.UUID, ...]:
    """An agent on the local OpenAI-compatible server, in the projection as its event puts it."""
    snapshot = agent_snapshot()
    config = snapshot.configuration.model_copy(update={
        "llm_provider": provider, "llm_model": "gpt-4o-mini", "llm_api_base_url": llm.url + "/v1"})
    snapshot = snapshot.model_copy(update={"configuration": config})
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with client.app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    return snapshot.company_id, snapshot.agent_id


@pytest.fixture
async def agent(client, llm, knowledge, databases):
    """(member, agent_id, its Chinook connection); the agent has no documents."""
    company_id, agent_id = await openai_agent(client, llm)
    databases.catalogs[agent_id] = chinook_catalog()
    return member(company_id), agent_id, databases.catalogs[agent_id][0]


def calling(*sql: str, connection_id: uuid.UUID) -> Reply:
    calls = [(f"call_{i}", "query_database", json.dumps({"connection_id": str(connection_id), "sql": s}))
             for i, s in enumerate(sql)]
    return Reply(events=openai_tool_calls(calls))


def answering(*pieces: str) -> Reply:
    return Reply(events=openai_stream(list(pieces)))


async def chat(call, principal, agent_id, message: str = QUESTION) -> tuple[dict, list[tuple[str, dict]]]:
    """Ask in a new conversation; the final message (as the messages API shows it) and the SSE events."""
    conversation_id = await new_conversation(call, principal, agent_id)
    r = await call("POST", f"/api/v1/conversation/{conversation_id}/chat", principal, json={"message": message})
    assert r.status_code == 202, r.text
    accepted = r.json()
    stream = await asyncio.wait_for(call("GET", accepted["stream_url"].removeprefix("http://service"), principal), 30)
    events = sse_events(stream.text)
    assert events[-1][0] in ("completed", "failed"), stream.text
    messages = (await call("GET", f"/api/v1/conversation/{conversation_id}/messages", principal)).json()["messages"]
    return messages[-1], events


def tokens(events) -> str:
    return "".join(data["text"] for name, data in events if name == "token")


def nonce_of(request: Request) -> str:
    if "messages" in request.body:
        return re.search(r"<<<DATA n (\w+)>>>", request.body["messages"][0]["content"]).group(1)
    return re.search(r"<<<DATA n (\w+)>>>", request.body["systemInstruction"]["parts"][0]["text"]).group(1)


async def test_agent_answers_from_a_table_the_model_queried_and_cites_connection_and_table(call, agent, llm):
    alice, agent_id, connection = agent
    llm.queue += [calling(CITY_SQL, connection_id=connection.connection_id), answering("Luís Gonçalves lives in ",
                                                                                       "São José dos Campos [1].")]
    message, events = await chat(call, alice, agent_id)

    assert message["status"] == "complete" and message["content"] == ANSWER
    assert tokens(events) == ANSWER  # only the final text was streamed: no call, no rows
    first, second = llm.requests
    [tool] = first.body["tools"]
    assert tool["function"]["name"] == "query_database" and first.body["tool_choice"] == "auto"
    description = tool["function"]["description"]
    assert f'connection_id {connection.connection_id}: "Chinook", postgresql SQL' in description
    assert "public.customer(customer_id: INTEGER, first_name: VARCHAR(40)" in description
    assert "The store's customers and where they live." in description

    nonce = nonce_of(first)
    assert second.body["messages"][-2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_0", "type": "function", "function": {
            "name": "query_database",
            "arguments": json.dumps({"connection_id": str(connection.connection_id), "sql": CITY_SQL})}}]}
    result = second.body["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == "call_0"
    lines = result["content"].splitlines()
    assert lines[0] == f"<<<DATA 1 {nonce}>>>" and lines[-1] == f"<<<END DATA 1 {nonce}>>>"
    assert lines[1].startswith('result [1] from connection "Chinook" (postgresql), tables: customer; 1 rows')
    assert lines[2:-1] == ['columns: ["first_name", "city"]', '["Luís", "São José dos Campos"]']

    [citation] = message["citations"]
    assert citation == {
        "source": "database", "source_number": 1, "connection_id": str(connection.connection_id),
        "connection_name": "Chinook", "dialect": "postgresql", "table": "customer", "tables": ["customer"],
        "sql": CITY_SQL, "row_count": 1, "document_name": "Chinook (customer)",
    }
    assert message["metadata"]["cited_sources"] == [1] and message["metadata"]["citation_warnings"] == []


async def test_the_model_gets_at_most_20_rows_with_long_values_cut(call, agent, llm, databases):
    alice, agent_id, connection = agent
    llm.queue += [calling(TRACKS_SQL, connection_id=connection.connection_id), answering("The first track is ",
                                                                                         "For Those About To Rock.")]
    message, _ = await chat(call, alice, agent_id, "Which tracks come first?")

    assert message["status"] == "complete"
    assert databases.queries[-1].limit == 20
    content = llm.requests[1].body["messages"][-1]["content"]
    rows = [json.loads(line) for line in content.splitlines()[3:-1]]
    tracks = chinook_rows()["track"]
    assert [row[:2] for row in rows] == [[t[0], t[1]] for t in tracks[:20]]
    assert len(rows[0][2]) == 200 and rows[0][2].endswith("…")  # cut before it reaches the model
    assert "20 rows; the statement had more rows than these" in content.splitlines()[1]
    assert message["citations"][0]["table"] == "track" and message["citations"][0]["row_count"] == 20


async def test_a_refused_statement_goes_back_to_the_model_which_corrects_it_and_the_turn_completes(
    call, agent, llm
):
    alice, agent_id, connection = agent
    llm.queue += [calling("DELETE FROM customer", connection_id=connection.connection_id),
                  calling(CITY_SQL, connection_id=connection.connection_id), answering(ANSWER)]
    message, events = await chat(call, alice, agent_id)

    assert message["status"] == "complete" and message["content"] == ANSWER
    assert "sql_refused" not in tokens(events)  # the user never sees the refusal
    refusal = llm.requests[1].body["messages"][-1]["content"].splitlines()
    nonce = nonce_of(llm.requests[0])
    assert refusal[0] == f"<<<DATA 0 {nonce}>>>"
    assert json.loads(refusal[1]) == {"error": "sql_refused",
                                      "message": "This SQL is not allowed: DELETE is not a query"}
    assert [c["sql"] for c in message["citations"]] == [CITY_SQL]  # only the query that ran


async def test_after_three_rounds_of_queries_the_model_must_answer(call, agent, llm):
    alice, agent_id, connection = agent
    llm.queue += [calling(CITY_SQL, connection_id=connection.connection_id) for _ in range(MAX_ROUNDS)]
    llm.queue.append(answering(ANSWER))
    message, _ = await chat(call, alice, agent_id)

    assert message["status"] == "complete" and message["content"] == ANSWER
    assert [r.body["tool_choice"] for r in llm.requests] == ["auto"] * MAX_ROUNDS + ["none"]
    assert [c["source_number"] for c in message["citations"]] == [1, 2, 3]


async def test_a_model_that_calls_an_unknown_connection_is_told_which_exist(call, agent, llm):
    alice, agent_id, connection = agent
    llm.queue += [calling(CITY_SQL, connection_id=uuid.uuid4()), answering("I don't know.")]
    message, _ = await chat(call, alice, agent_id)

    error = json.loads(llm.requests[1].body["messages"][-1]["content"].splitlines()[1])
    assert error["error"] == "connection_not_found" and str(connection.connection_id) in error["message"]
    assert message["status"] == "complete" and message["citations"] == []


async def test_catalog_unavailable_answers_without_the_tool(call, agent, llm, databases, knowledge):
    alice, agent_id, _ = agent
    databases.broken.add(agent_id)
    message, _ = await chat(call, alice, agent_id)  # no documents either: nothing may be invented
    assert message["status"] == "complete" and message["content"].startswith("I don't know")
    assert llm.requests == []

    knowledge.passages[agent_id] = ["Customer 1 is Luís Gonçalves."]
    llm.queue.append(answering("Customer 1 is Luís Gonçalves [1]."))
    message, _ = await chat(call, alice, agent_id)
    assert message["content"] == "Customer 1 is Luís Gonçalves [1]." and "tools" not in llm.requests[0].body
    assert message["citations"][0]["document_name"] == "handbook.pdf"


async def test_an_agent_without_connections_is_offered_no_tool_and_offline_asks_no_catalog(
    client, call, llm, databases, knowledge
):
    company_id, agent_id = await openai_agent(client, llm)
    knowledge.passages[agent_id] = ["Customer 1 is Luís Gonçalves."]
    llm.queue.append(answering("Customer 1 is Luís Gonçalves [1]."))
    message, _ = await chat(call, member(company_id), agent_id)
    assert message["status"] == "complete" and "tools" not in llm.requests[0].body

    company_id, agent_id = await openai_agent(client, llm, provider="offline")
    databases.catalogs[agent_id] = chinook_catalog()
    asked = len(databases.catalog_requests)
    message, _ = await chat(call, member(company_id), agent_id)
    assert message["content"].startswith("I don't know") and len(databases.catalog_requests) == asked


async def test_a_gemini_agent_queries_through_function_calls_and_cites_the_table(client, call, llm, databases):
    company_id, agent_id = await openai_agent(client, llm, provider="gemini")  # base URL: the local server
    databases.catalogs[agent_id] = chinook_catalog()
    connection = databases.catalogs[agent_id][0]
    llm.queue += [
        Reply(events=gemini_function_calls([("query_database", {"connection_id": str(connection.connection_id),
                                                                "sql": CITY_SQL})]), separator="\r\n\r\n"),
        Reply(events=gemini_stream([ANSWER]), separator="\r\n\r\n"),
    ]
    message, events = await chat(call, member(company_id), agent_id)

    assert message["status"] == "complete" and message["content"] == ANSWER and tokens(events) == ANSWER
    first, second = llm.requests
    assert first.path.endswith("/models/gpt-4o-mini:streamGenerateContent?alt=sse")
    assert first.body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    response = second.body["contents"][-1]["parts"][0]["functionResponse"]
    assert response["name"] == "query_database"
    assert f"<<<DATA 1 {nonce_of(first)}>>>" in response["response"]["result"]
    assert '["Luís", "São José dos Campos"]' in response["response"]["result"]
    assert [(c["source"], c["connection_name"], c["table"]) for c in message["citations"]] == [
        ("database", "Chinook", "customer")]


async def test_at_most_five_queries_run_per_round_and_text_before_calls_stays_in_the_answer(
    call, agent, llm, databases
):
    alice, agent_id, connection = agent
    calls = [(f"call_{i}", "query_database", json.dumps({"connection_id": str(connection.connection_id),
                                                          "sql": CITY_SQL})) for i in range(6)]
    llm.queue += [Reply(events=openai_tool_calls(calls, text="Let me look that up.")), answering(ANSWER)]
    ran = len(databases.queries)
    message, events = await chat(call, alice, agent_id)

    assert message["content"] == f"Let me look that up.\n\n{ANSWER}" == tokens(events)
    assert len(databases.queries) - ran == 5
    results = llm.requests[1].body["messages"][-6:]
    assert [r["tool_call_id"] for r in results] == [f"call_{i}" for i in range(6)]
    assert json.loads(results[-1]["content"].splitlines()[1])["error"] == "too_many_calls"
    assert llm.requests[1].body["messages"][-7]["content"] == "Let me look that up."
    assert len(message["citations"]) == 5
