"""The AnswerMessage job: retrieve → prompt → LLM (streamed to every listener) → persist.

Runs on whichever replica's answerer takes the job. Events go out on the conversation's
stream subject as they happen: `started` (with the attempt), `token` (numbered by `seq` from 0
within the attempt), then `completed` or `failed`. The turn is registered in the process's
in-flight registry while it runs, so a late joiner can ask for the text so far (inflight.py).
Provider failures become a failed answer with a reason the user can read (their question
stays); the answer's task is finished in the same transaction (answer_task.py). A redelivered
job whose answer is already final does nothing, and one interrupted mid-answer starts the
answer again (a new `started`, tokens from seq 0).

An agent on a provider that calls tools, with analysed database connections, is offered the
`query_database` tool (database_tool.py): the model may call it for up to `MAX_ROUNDS` rounds,
each round's results going back to it as tool messages; then it must answer (`tool_choice`
"none"). Only text is streamed as tokens (a model's text before its calls included); the calls and
their results are not. Without passages such an agent still asks the model (the databases may
hold the answer); without connections it answers "I don't know" as before.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import AgentNotFound
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.conversations import AnswerMessage
from knowrithm_common.llm.agent import agent_llm_spec
from knowrithm_common.llm.base import ChatMessage, LlmError, LlmSpec, Passage, Prompt, ToolCall, Usage
from knowrithm_common.llm.factory import create_llm
from knowrithm_common.llm.offline import DONT_KNOW
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.messaging.rpc import RpcFailed, RpcUnavailable, call
from knowrithm_common.queries import INGESTION_SEARCH_SUBJECT, SearchReply, SearchRequest
from knowrithm_conversations.agents.view import get_agent
from knowrithm_conversations.chat.answer_task import answer_started, finish_answer_task
from knowrithm_conversations.chat.database_tool import MAX_ROUNDS, DatabaseTool, load_catalog
from knowrithm_conversations.chat.deps import Deps
from knowrithm_conversations.chat.prompt import DatabaseSource, build_prompt, citations_of
from knowrithm_conversations.chat.service import record_message_event
from knowrithm_conversations.chat.views import completed_event, failed_event
from knowrithm_conversations.models import AgentView, Conversation, Message, MessageStatus

logger = logging.getLogger(__name__)

ANSWERS = Counter("knowrithm_chat_answers_total", "Answers generated", ["outcome", "provider"])
FIRST_TOKEN = Histogram(
    "knowrithm_chat_first_token_seconds",
    "Answer started to first token",
    ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TURN_SECONDS = Histogram(
    "knowrithm_chat_turn_seconds",
    "Question stored to answer complete",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOKENS = Counter("knowrithm_chat_tokens_total", "LLM tokens", ["direction", "provider"])


class Turn:
    """One answer in the making: the rows it reads and what it has produced so far."""

    def __init__(self, deps: Deps, job: AnswerMessage, *, attempt: int) -> None:
        self.deps, self.job, self.attempt = deps, job, attempt
        self.text: list[str] = []  # the tokens so far; token `seq` n is text[n]
        self.first_token_ms: int | None = None
        self.started = time.perf_counter()

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        await self.deps.hub.publish(self.job.conversation_id, event, data)


async def answer_message(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Handle one AnswerMessage job."""
    job = AnswerMessage.model_validate(envelope.data)
    turn = Turn(deps, job, attempt=ctx.attempt)
    # Registered before the answer is marked streaming: whoever sees it streaming can ask here.
    deps.inflight.add(job.assistant_message_id, turn)
    try:
        await _answer(turn, ctx)
    finally:
        deps.inflight.remove(job.assistant_message_id)


async def _answer(turn: Turn, ctx: JobContext) -> None:
    deps, job = turn.deps, turn.job
    loaded = await _begin(deps, job)
    if isinstance(loaded, dict):
        await turn.emit("failed", loaded)
        return
    if loaded is None:
        return
    agent, question, passages_query = loaded
    await turn.emit(
        "started",
        {"conversation_id": str(job.conversation_id), "message_id": str(job.assistant_message_id),
         "attempt": turn.attempt},
    )
    try:
        passages = await _retrieve(deps, agent, passages_query)
        async with deps.db.sessions() as session:
            history = await deps.history.load(
                session, job.conversation_id, exclude=[job.user_message_id, job.assistant_message_id]
            )
        tool = await _database_tool(deps, agent, first_number=len(passages) + 1)
        prompt = build_prompt(agent, question=question, passages=passages, history=history,
                              tools=[tool.tool] if tool else [], nonce=tool.nonce if tool else None)
        usage = await _generate(turn, agent, prompt, tool)
    except LlmError as exc:
        await _fail(turn, agent, exc.code, exc.reason)
        return
    except Exception:
        if not ctx.final_attempt:
            raise
        logger.exception("answer %s failed on its last attempt", job.assistant_message_id)
        await _fail(turn, agent, "answer_failed", "The answer could not be generated; please ask again")
        return
    await _complete(turn, agent, prompt, usage, question, tool.sources if tool else [])


async def _begin(deps: Deps, job: AnswerMessage) -> tuple[AgentView, str, str] | dict[str, Any] | None:
    """Mark the answer streaming: its agent and question; the `failed` event's data when it
    cannot be answered any more; None when there is nothing (left) to do."""
    async with deps.db.session() as session, session.begin():
        answer = await session.get(Message, job.assistant_message_id, with_for_update=True)
        question = await session.get(Message, job.user_message_id)
        conversation = await session.get(Conversation, job.conversation_id)
        if answer is None or question is None or conversation is None:
            return None
        if answer.status in (MessageStatus.COMPLETE.value, MessageStatus.FAILED.value):
            return None  # already answered: a redelivery
        if conversation.deleted_at is not None or answer.deleted_at is not None:
            reason = "The conversation was deleted before the agent could answer"
            return await _refuse(session, answer, "conversation_deleted", reason)
        try:
            agent = await get_agent(  # the chat request found the agent: the projection holds it
                session, company_id=conversation.company_id, agent_id=conversation.agent_id, owner=None
            )
        except AgentNotFound:
            reason = "The agent was deleted before it could answer"
            return await _refuse(session, answer, "agent_not_found", reason)
        answer.status, answer.content = MessageStatus.STREAMING.value, ""
        await answer_started(session, answer)
        return agent, question.content, question.content


async def _refuse(session: AsyncSession, answer: Message, code: str, reason: str) -> dict[str, Any]:
    answer.status, answer.error_code, answer.error = MessageStatus.FAILED.value, code, reason
    await finish_answer_task(session, answer)
    return failed_event(answer)


async def _retrieve(deps: Deps, agent: AgentView, query: str) -> list[Passage]:
    request = SearchRequest(
        company_id=agent.company_id,
        agent_id=agent.agent_id,
        query=query[:4000],
        limit=deps.settings.retrieval_limit,
    )
    try:
        reply = await call(
            deps.nats,
            INGESTION_SEARCH_SUBJECT,
            request,
            SearchReply,
            timeout=deps.settings.retrieval_timeout_seconds,
        )
    except RpcFailed as exc:
        if exc.code == "agent_not_found":
            return []  # ingestion has not heard of the agent yet: it has no knowledge
        raise LlmError(
            "Searching the agent's knowledge failed; please ask again", code="retrieval_failed"
        ) from exc
    except RpcUnavailable as exc:
        raise LlmError(
            "The agent's knowledge is not reachable right now; please ask again",
            code="retrieval_unavailable",
            retryable=True,
        ) from exc
    return [
        Passage(
            number=i,
            content=r.content,
            document_id=str(r.document_id),
            document_name=r.document_name,
            page=r.page,
            chunk_id=str(r.id),
            score=r.score,
            source_url=r.source_url,
        )
        for i, r in enumerate(reply.results, start=1)
    ]


async def _database_tool(deps: Deps, agent: AgentView, *, first_number: int) -> DatabaseTool | None:
    """The `query_database` tool when the agent's model can call it and it has analysed connections."""
    connections = await load_catalog(deps.nats, agent, timeout=deps.settings.retrieval_timeout_seconds)
    if not connections:
        return None
    return DatabaseTool(deps.nats, agent, connections, first_number=first_number, nonce=secrets.token_hex(6))


async def _spec(deps: Deps, agent: AgentView) -> LlmSpec:
    return await agent_llm_spec(
        deps.nats, company_id=agent.company_id, agent_id=agent.agent_id, provider=agent.llm_provider,
        model=agent.llm_model, base_url=agent.llm_api_base_url, params=agent.llm_params,
        timeout=deps.settings.llm_timeout_seconds,
    )


async def _generate(turn: Turn, agent: AgentView, prompt: Prompt, tool: DatabaseTool | None = None) -> Usage:
    """Stream the answer's text to listeners (running the model's database queries between rounds);
    the usage of every round at the end."""
    provider = agent.llm_provider or "offline"
    if not prompt.passages and tool is None:
        await _token(turn, DONT_KNOW, provider)  # nothing retrieved: no model may invent an answer
        return Usage()
    llm = create_llm(await _spec(turn.deps, agent))
    usage = Usage()
    messages = list(prompt.messages)
    try:
        for round_ in range(MAX_ROUNDS + 1):
            asked = prompt
            if tool is not None:  # the last round must answer: the tool stays known, but not callable
                asked = dataclasses.replace(prompt, messages=list(messages),
                                            tool_choice="auto" if round_ < MAX_ROUNDS else "none")
            said: list[str] = []
            calls: tuple[ToolCall, ...] = ()
            async for delta in llm.stream(asked):
                if delta.text:
                    if not said and turn.text:  # text after a round of queries: a new paragraph
                        await _token(turn, "\n\n", provider)
                    said.append(delta.text)
                    await _token(turn, delta.text, provider)
                if delta.done:
                    if delta.usage is not None:
                        usage.input_tokens += delta.usage.input_tokens
                        usage.output_tokens += delta.usage.output_tokens
                    calls = delta.tool_calls
            if tool is None or not calls or round_ == MAX_ROUNDS:
                break
            results = await tool.run(calls)
            messages.append(ChatMessage(role="assistant", content="".join(said), tool_calls=calls))
            messages += [
                ChatMessage(role="tool", content=result, tool_call_id=call.id)
                for call, result in zip(calls, results, strict=True)
            ]
    finally:
        await llm.aclose()
    if not "".join(turn.text).strip():
        await _token(turn, DONT_KNOW, provider)  # the model said nothing at all
    return usage


async def _token(turn: Turn, text: str, provider: str) -> None:
    if turn.first_token_ms is None:
        turn.first_token_ms = int((time.perf_counter() - turn.started) * 1000)
        FIRST_TOKEN.labels(provider).observe(turn.first_token_ms / 1000)
    seq = len(turn.text)
    turn.text.append(text)
    await turn.emit("token", {"message_id": str(turn.job.assistant_message_id), "text": text, "seq": seq})


async def _complete(
    turn: Turn, agent: AgentView, prompt: Prompt, usage: Usage, question: str,
    databases: list[DatabaseSource] | None = None,
) -> None:
    deps, job = turn.deps, turn.job
    content = "".join(turn.text).strip()
    citations, metadata = citations_of(content, prompt.passages, databases or [])
    provider = agent.llm_provider or "offline"
    async with deps.db.session() as session, session.begin():
        answer = await session.get(Message, job.assistant_message_id, with_for_update=True)
        question_row = await session.get(Message, job.user_message_id)
        if answer is None or question_row is None:
            return
        latency_ms = int((utcnow() - question_row.created_at).total_seconds() * 1000)
        answer.content, answer.status, answer.citations = content, MessageStatus.COMPLETE.value, citations
        answer.message_metadata = {**metadata, "context_used": len(prompt.passages),
                                   "answer_found": answer_found(content, prompt.passages, citations)}
        if databases:
            answer.message_metadata["database_queries"] = len(databases)
        answer.input_tokens, answer.output_tokens = usage.input_tokens, usage.output_tokens
        answer.latency_ms, answer.first_token_ms, answer.model_used = (
            latency_ms,
            turn.first_token_ms,
            agent.llm_model,
        )
        await _count(session, answer, usage.input_tokens + usage.output_tokens)
        await finish_answer_task(session, answer)
        await record_message_event(session, answer)
        completed = completed_event(answer)
    ANSWERS.labels("completed", provider).inc()
    TURN_SECONDS.labels(provider).observe(latency_ms / 1000)
    TOKENS.labels("input", provider).inc(usage.input_tokens)
    TOKENS.labels("output", provider).inc(usage.output_tokens)
    await deps.history.append(
        job.conversation_id,
        ChatMessage(role="user", content=question),
        ChatMessage(role="assistant", content=content),
    )
    await turn.emit("completed", completed)


def answer_found(content: str, passages: Sequence[Passage], citations: list[dict[str, Any]]) -> bool:
    """Whether the agent answered: not when it said it does not know (the fixed "I don't know"
    answer), nor when it had no passages and cited no database result either."""
    if content.strip() == DONT_KNOW:
        return False
    return bool(passages) or bool(citations)


async def _count(session: AsyncSession, answer: Message, tokens: int) -> None:
    conversation = await session.get(Conversation, answer.conversation_id, with_for_update=True)
    if conversation is not None:
        conversation.message_count += 1
        conversation.total_tokens += tokens
        conversation.last_activity = utcnow()


async def _fail(turn: Turn, agent: AgentView, code: str, reason: str) -> None:
    deps, job = turn.deps, turn.job
    async with deps.db.session() as session, session.begin():
        answer = await session.get(Message, job.assistant_message_id, with_for_update=True)
        if answer is None:
            return
        answer.status, answer.error_code, answer.error = MessageStatus.FAILED.value, code, reason
        answer.content = "".join(turn.text)
        answer.model_used = agent.llm_model
        await finish_answer_task(session, answer)
        await record_message_event(session, answer)
        failed = failed_event(answer)
    ANSWERS.labels("failed", agent.llm_provider or "offline").inc()
    await turn.emit("failed", failed)
