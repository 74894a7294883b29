"""An agent whose language model is simulated, for the text-to-SQL paths of the database tests.

`knowrithm_common.llm.testing.LlmServer`, a local HTTP server speaking OpenAI's chat-completions wire
format, is the agent's openai-compatible model: `ScriptedModel` answers each question (the prompt's
user message) with the SQL a test set for it. The agents service's credentials query (the LLM key)
is answered beside the app by a stand-in responder on the real NATS.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from knowrithm_common.events import new_event
from knowrithm_common.events.agents import AgentCreatedV1
from knowrithm_common.llm.testing import LlmServer, Reply, Request, openai_error, openai_stream
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import AGENT_CREDENTIALS_SUBJECT, AgentCredentialsReply, AgentCredentialsRequest

from .support import agent_snapshot, apply_agent_event

LLM_KEY = "sk-test-llm-key"
MODEL = "gpt-test"


class ScriptedModel:
    """Answers a question it was given SQL for with that SQL in a ```sql fence; anything else 400."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}

    def respond(self, request: Request) -> Reply:
        question = request.body["messages"][-1]["content"]
        sql = self.answers.get(question)
        if sql is None:
            return Reply(400, body=openai_error(400, f"no scripted answer for {question[:80]!r}"))
        return Reply(events=openai_stream(["```sql\n", sql, "\n```"]))


async def serve_credentials(nats) -> AsyncIterator[None]:
    """The agents service's credentials query, answered with the agents' LLM key, while iterated."""

    async def answer(request: AgentCredentialsRequest) -> AgentCredentialsReply:
        return AgentCredentialsReply(llm_api_key=LLM_KEY)

    responder = RpcResponder(nats=nats, subject=AGENT_CREDENTIALS_SUBJECT, queue="agents",
                             request=AgentCredentialsRequest, handler=answer)
    await responder.start()
    await nats.client.flush()
    try:
        yield
    finally:
        await responder.stop()


async def llm_agent(app, llm: LlmServer, *, company_id: uuid.UUID | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """A company (or `company_id`) and its agent answering with the simulated model."""
    snapshot = agent_snapshot(company_id=company_id)
    config = snapshot.configuration.model_copy(
        update={"llm_provider": "openai-compatible", "llm_model": MODEL, "llm_api_base_url": f"{llm.url}/v1"}
    )
    snapshot = snapshot.model_copy(update={"configuration": config})
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    return snapshot.company_id, snapshot.agent_id
