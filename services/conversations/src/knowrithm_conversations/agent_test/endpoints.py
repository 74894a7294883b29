"""`POST /api/v1/agent/{agent_id}/test`: ask an agent one question the way its visitors would.

The question goes through the very pipeline chat uses (retrieval, prompt, the agent's model,
citations): a conversation of the caller's own, marked `{"test": true}` in its metadata, gets
the question, and the answer is queued like any chat message. The 202 names a task; when the
answer is final the pipeline writes the answer, its citations and its latency into the task's
result (report.py), readable at `/api/v1/tasks/{task_id}/status`. The conversation stays, so
the test can be read (or continued) like any other.
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, Role, authenticated, require_roles, require_scopes
from knowrithm_common.tasks import accepted, create_task
from knowrithm_common.tenancy import actor_of, scope_of
from knowrithm_conversations.agent_test.report import TASK_KIND, marked_as_test
from knowrithm_conversations.agents_view import Agents, get_agent, ready_to_answer
from knowrithm_conversations.chat.deps import ChatDeps, get_chat
from knowrithm_conversations.chat.endpoints import MessageTooLong, store_question
from knowrithm_conversations.conversations import service
from knowrithm_conversations.conversations.schemas import NewConversation
from knowrithm_conversations.models import platform

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]
Caller = Annotated[Principal, Depends(authenticated)]
Chat = Annotated[ChatDeps, Depends(get_chat)]
testers = [
    Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN, Role.USER)),
    Depends(require_scopes(["write"])),
]


class AgentTestBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    query: str = Field(min_length=1, description="The question to ask the agent")


@router.post("/api/v1/agent/{agent_id}/test", status_code=202, tags=TAGS, dependencies=testers)
async def run_agent_test(
    agent_id: uuid.UUID, body: AgentTestBody, request: Request, session: Session, caller: Caller, deps: Chat,
    agents: Agents,
) -> JSONResponse:
    """Ask an agent a question through the chat pipeline; the task result holds answer, citations, latency."""
    if len(body.query) > deps.settings.max_message_chars:
        raise MessageTooLong(f"The question is longer than {deps.settings.max_message_chars} characters")
    agent = await get_agent(session, company_id=scope_of(caller), agent_id=agent_id, owner=agents,
                            check=ready_to_answer)
    new = NewConversation(agent_id=agent.agent_id, title="Agent test", metadata={"test": True})
    conversation, _ = await service.create_conversation(session, caller, new, agents=agents,
                                                        actor=actor_of(request, caller))
    task_id = await create_task(session, platform.tasks, company_id=agent.company_id, kind=TASK_KIND)
    question, answer = await store_question(session, conversation, body.query, caller, request)
    conversation.conversation_metadata = marked_as_test(task_id, answer.id)
    content = {
        **accepted(task_id, "The question is queued; the task's result will hold the answer."),
        "conversation_id": str(conversation.id),
        "message_id": str(question.id),
        "assistant_message_id": str(answer.id),
    }
    return JSONResponse(content, status_code=202)
