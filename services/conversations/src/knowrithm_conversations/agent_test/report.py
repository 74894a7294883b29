"""What an agent test's task reports once its answer is final (see chat/answer_task.py).

An agent test is an ordinary chat turn in a conversation of the caller's own, marked as a test
in its metadata; its answer's task is of kind `agent_test` and its result is this report.
"""

from __future__ import annotations

import uuid
from typing import Any

from knowrithm_conversations.models import Message

TASK_KIND = "agent_test"
TASK_KEY, ANSWER_KEY = "test_task_id", "test_answer_id"


def marked_as_test(task_id: uuid.UUID, answer_id: uuid.UUID) -> dict[str, Any]:
    """The conversation metadata that marks a test and names its task and awaited answer."""
    return {"test": True, TASK_KEY: str(task_id), ANSWER_KEY: str(answer_id)}


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
