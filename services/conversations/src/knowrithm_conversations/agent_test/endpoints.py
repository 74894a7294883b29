"""`POST /api/v1/agent/{agent_id}/test`: ask an agent one question the way its visitors would.

The question goes through the very pipeline chat uses (retrieval, prompt, the agent's model,
citations): a conversation of the caller's own, marked `{"test": true}` in its metadata, gets
the question, and the answer is queued like any chat message. The 202 names the answer's task
(of kind `agent_test`); when the answer is final the pipeline writes the answer, its citations
and its latency into the task's result (report.py), readable at `/api/v1/tasks/{task_id}/status`.
The conversation stays, so the test can be read (or continued) like any other. Without a body
(or a `query`) the contract's sample question is asked.
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
from knowrithm_common.openapi import errors
from knowrithm_common.queries import Agents
from knowrithm_common.tasks import accepted
from knowrithm_common.tenancy import actor_of, scope_of
from knowrithm_conversations.agent_test.report import TASK_KIND, marked_as_test
from knowrithm_conversations.agents_view import get_agent, ready_to_answer
from knowrithm_conversations.chat.deps import ChatDeps, get_chat
from knowrithm_conversations.chat.endpoints import MessageTooLong, store_question
from knowrithm_conversations.conversations import service
from knowrithm_conversations.conversations.schemas import NewConversation

router = APIRouter()
TAGS: list[str | Enum] = ["Agents"]
Caller = Annotated[Principal, Depends(authenticated)]
Chat = Annotated[ChatDeps, Depends(get_chat)]
testers = [
    Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN, Role.USER)),
    Depends(require_scopes(["write"])),
]


SAMPLE_QUERY = "Hello, can you introduce yourself?"  # the contract's example


class AgentTestBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    query: str = Field(SAMPLE_QUERY, min_length=1, description="The question to ask the agent")


@router.post("/api/v1/agent/{agent_id}/test", status_code=202, tags=TAGS, dependencies=testers,
             responses=errors(409))
async def run_agent_test(
    agent_id: uuid.UUID, request: Request, session: Session, caller: Caller, deps: Chat, agents: Agents,
    body: AgentTestBody | None = None,
) -> JSONResponse:
    """Ask an agent a question through the chat pipeline; the task result holds answer, citations, latency."""
    body = body or AgentTestBody()
    if len(body.query) > deps.settings.max_message_chars:
        raise MessageTooLong(f"The question is longer than {deps.settings.max_message_chars} characters")
    agent = await get_agent(session, company_id=scope_of(caller), agent_id=agent_id, owner=agents,
                            check=ready_to_answer)
    new = NewConversation(agent_id=agent.agent_id, title="Agent test", metadata={"test": True})
    conversation, _ = await service.create_conversation(session, caller, new, agents=agents,
                                                        actor=actor_of(request, caller))
    question, answer, task_id = await store_question(
        session, conversation, body.query, caller, request, task_kind=TASK_KIND
    )
    conversation.conversation_metadata = marked_as_test(task_id, answer.id)
    content = {
        **accepted(task_id, "The question is queued; the task's result will hold the answer."),
        "conversation_id": str(conversation.id),
        "message_id": str(question.id),
        "assistant_message_id": str(answer.id),
    }
    return JSONResponse(content, status_code=202)
