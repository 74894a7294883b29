"""An answer's task: the 202 of a chat turn (or of an agent test) names it; the pipeline keeps it.

The task is `pending` while the answer is queued, `running` from the moment an answerer starts
it, then `completed` with the result its kind calls for (a chat turn: the assistant message as
the messages API shows it; an agent test: its report) or `failed` with the reason a user can
read in `error`. The outcome is written in the very transaction that makes the answer final,
so the task and the answer never disagree, whichever replica answered, after any restart.

The kinds and their results live here, where both the requests that queue an answer (chat,
the agent test) and the answerer that finishes it import them from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.tasks import TaskStatus, create_task, update_task
from knowrithm_conversations.conversations.schemas import MessageOut
from knowrithm_conversations.models import Message, MessageStatus, shared

CHAT = "chat"
# An agent test is an ordinary chat turn in a conversation of the caller's own, marked as a
# test in its metadata (agent_test/); its task is of this kind and its result the report.
AGENT_TEST = "agent_test"
# An offline answer takes well under a second, a model's a few: pollers come back this soon.
POLL_AFTER_MS = {CHAT: 250, AGENT_TEST: 250}
FALLBACK_ERROR = "The agent could not answer"


def _chat_result(answer: Message) -> dict[str, Any]:
    return MessageOut.of(answer).model_dump(mode="json")


def report_of(answer: Message) -> dict[str, Any]:
    """The result of a completed agent test: the answer, its citations, latency and model."""
    return {
        "conversation_id": str(answer.conversation_id),
        "message_id": str(answer.id),
        "answer": answer.content,
        "citations": answer.citations or [],
        "latency_ms": answer.latency_ms,
        "first_token_ms": answer.first_token_ms,
        "model_used": answer.model_used,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
    }


RESULTS: dict[str, Callable[[Message], dict[str, Any]]] = {CHAT: _chat_result, AGENT_TEST: report_of}


async def create_answer_task(session: AsyncSession, answer: Message, *, kind: str = CHAT) -> uuid.UUID:
    """A pending task for `answer` (in the caller's transaction), named on the answer."""
    answer.task_id = await create_task(session, shared.tasks, company_id=answer.company_id, kind=kind)
    return answer.task_id


async def answer_started(session: AsyncSession, answer: Message) -> None:
    """The answer's task is running (with the change that marks the answer streaming)."""
    if answer.task_id is not None:
        await update_task(
            session, shared.tasks, answer.task_id, status=TaskStatus.RUNNING, stage="answering"
        )


async def finish_answer_task(session: AsyncSession, answer: Message) -> None:
    """Complete or fail the answer's task from the answer just made final (same transaction)."""
    if answer.task_id is None:
        return  # answers stored before answers had tasks
    tasks = shared.tasks
    kind = await session.scalar(select(tasks.c.kind).where(tasks.c.id == answer.task_id))
    base = {"conversation_id": str(answer.conversation_id), "message_id": str(answer.id)}
    if answer.status == MessageStatus.COMPLETE.value:
        result = RESULTS.get(kind or CHAT, _chat_result)(answer)
        await update_task(
            session, tasks, answer.task_id, status=TaskStatus.COMPLETED, progress=100, stage="answered",
            result=result,
        )
        return
    await update_task(
        session, tasks, answer.task_id, status=TaskStatus.FAILED, progress=100, stage="failed",
        result={**base, "error_code": answer.error_code}, error=answer.error or FALLBACK_ERROR,
    )
