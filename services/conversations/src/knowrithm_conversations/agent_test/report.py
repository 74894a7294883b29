"""The agent-test task's outcome, written by the answer pipeline in the answer's own transaction.

An agent test is an ordinary chat turn in a conversation whose metadata names the task and the
answer it waits for (`test_task_id`, `test_answer_id`). When that answer completes or fails the
pipeline calls `finish_test_task` inside the transaction that makes the answer final, so the
task and the answer can never disagree, whichever replica answered, after any restart.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.tasks import TaskStatus
from knowrithm_conversations.models import Conversation, Message, MessageStatus, platform

TASK_KIND = "agent_test"
TASK_KEY, ANSWER_KEY = "test_task_id", "test_answer_id"


def marked_as_test(task_id: uuid.UUID, answer_id: uuid.UUID) -> dict[str, Any]:
    """The conversation metadata that marks a test and names its task and awaited answer."""
    return {"test": True, TASK_KEY: str(task_id), ANSWER_KEY: str(answer_id)}


def _outcome(answer: Message) -> dict[str, Any]:
    values: dict[str, Any] = {"progress": 100, "updated_at": func.now()}
    base = {"conversation_id": str(answer.conversation_id), "message_id": str(answer.id)}
    if answer.status == MessageStatus.COMPLETE.value:
        values["status"] = TaskStatus.COMPLETED.value
        values["stage"] = "answered"
        values["result"] = {
            **base,
            "answer": answer.content,
            "citations": answer.citations or [],
            "latency_ms": answer.latency_ms,
            "first_token_ms": answer.first_token_ms,
            "model_used": answer.model_used,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
        }
    else:
        values["status"] = TaskStatus.FAILED.value
        values["stage"] = "failed"
        values["error"] = answer.error or "The agent could not answer"
        values["result"] = {**base, "error_code": answer.error_code}
    return values


async def finish_test_task(session: AsyncSession, answer: Message) -> None:
    """Complete (or fail) the agent-test task waiting on this final answer, if one is."""
    conversation = await session.get(Conversation, answer.conversation_id)  # usually already loaded
    metadata = conversation.conversation_metadata if conversation is not None else None
    if not metadata or metadata.get(ANSWER_KEY) != str(answer.id):
        return
    tasks = platform.tasks
    await session.execute(
        update(tasks)
        .where(tasks.c.id == uuid.UUID(metadata[TASK_KEY]), tasks.c.kind == TASK_KIND)
        .values(**_outcome(answer))
    )
