"""The agent test's use case: one question to an agent, asked through the chat pipeline in a
conversation of the caller's own, marked as a test; its answer's task is of kind `agent_test`
and its result is the report (chat/answer_task.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.queries import AgentsOwner
from knowrithm_common.tenancy import Subject
from knowrithm_conversations.agents.view import get_agent, ready_to_answer
from knowrithm_conversations.chat.answer_task import AGENT_TEST
from knowrithm_conversations.chat.service import Queued, check_length, queue_question
from knowrithm_conversations.conversations.schemas import NewConversation
from knowrithm_conversations.conversations.service import create_conversation

TASK_KEY, ANSWER_KEY = "test_task_id", "test_answer_id"


def marked_as_test(task_id: uuid.UUID, answer_id: uuid.UUID) -> dict[str, Any]:
    """The conversation metadata that marks a test and names its task and awaited answer."""
    return {"test": True, TASK_KEY: str(task_id), ANSWER_KEY: str(answer_id)}


async def run_test(
    session: AsyncSession, subject: Subject, agent_id: uuid.UUID, query: str, *, limit: int,
    agents: AgentsOwner,
) -> Queued:
    """Ask an agent that can answer now a question in a new test conversation of the caller's."""
    check_length(query, limit=limit, what="question")
    agent = await get_agent(session, company_id=subject.company_id, agent_id=agent_id, owner=agents,
                            check=ready_to_answer)
    new = NewConversation(agent_id=agent.agent_id, title="Agent test", metadata={"test": True})
    conversation, _ = await create_conversation(session, subject, new, agents=agents)
    queued = await queue_question(session, conversation, query, actor=subject.actor, task_kind=AGENT_TEST)
    conversation.conversation_metadata = marked_as_test(queued.task_id, queued.answer.id)
    return queued
