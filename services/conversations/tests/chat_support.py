"""Helpers of the chat tests: a stand-in for ingestion's search, conversations, tasks, SSE bodies.

The answer pipeline asks ingestion for passages over NATS request-reply
(`rpc.ingestion.search.v1`). Ingestion does not run in these tests, so `KnowledgeStandIn`
answers that subject on the real NATS with passages the test gives per agent (an agent it
does not know gets ingestion's own `agent_not_found`, which the pipeline reads as "no
knowledge"; a `broken` agent gets a failure). Everything else is the real conversations app.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

from knowrithm_common.errors import AgentNotFound, ServiceUnavailable
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import INGESTION_SEARCH_SUBJECT, SearchReply, SearchRequest, SearchResult


class KnowledgeStandIn:
    """Answers `rpc.ingestion.search.v1` with each agent's passages (one document, page 1.. n)."""

    def __init__(self, nats: Any) -> None:
        self.passages: dict[uuid.UUID, list[str]] = {}
        self.broken: set[uuid.UUID] = set()
        self.document_id = uuid.uuid4()
        self.responder = RpcResponder(nats=nats, subject=INGESTION_SEARCH_SUBJECT, queue="ingestion-stand-in",
                                      request=SearchRequest, handler=self._search)

    async def _search(self, request: SearchRequest) -> SearchReply:
        if request.agent_id in self.broken:
            raise ServiceUnavailable("the vector store is down")
        texts = self.passages.get(request.agent_id) if request.agent_id else None
        if texts is None:
            raise AgentNotFound()  # ingestion's answer for an agent it has not heard of
        results = [
            SearchResult(id=uuid.uuid4(), document_id=self.document_id, agent_id=request.agent_id, chunk_index=i,
                         page=i + 1, content=text, score=0.9, document_name="handbook.pdf", document_type="pdf",
                         embedding_model="offline-embedder", word_count=len(text.split()),
                         created_at=dt.datetime.now(dt.UTC).isoformat())
            for i, text in enumerate(texts)
        ]
        return SearchReply(query=request.query, results=results, total_results=len(results), execution_time=0.01)


async def new_conversation(call, principal, agent_id) -> str:
    r = await call("POST", "/api/v1/conversation", principal, json={"agent_id": str(agent_id)})
    assert r.status_code == 201, r.text
    return r.json()["conversation"]["id"]


async def final_task(call, principal, accepted: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
    """The answer's task once the answer is final, waited for on the answer's own stream: it ends
    after the answer's final event (or at once with it, when the answer was final already), and
    the task is finished in the transaction that made the answer final."""
    stream = accepted["stream_url"].removeprefix("http://service")
    r = await asyncio.wait_for(call("GET", stream, principal), timeout)
    assert r.status_code == 200, r.text
    assert sse_events(r.text)[-1][0] in ("completed", "failed"), r.text
    r = await call("GET", accepted["status_url"], principal)
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] in ("completed", "failed"), task
    return task


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of an SSE body, comments left out."""
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = next((line[6:] for line in lines if line.startswith("data: ")), None)
        if name is not None and data is not None:
            events.append((name, json.loads(data)))
    return events
