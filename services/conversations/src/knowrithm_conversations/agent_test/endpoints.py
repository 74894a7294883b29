"""`POST /api/v1/agent/{agent_id}/test`: ask an agent one question the way its visitors would.

The question goes through the very pipeline chat uses (retrieval, prompt, the agent's model,
citations): a conversation of the caller's own, marked `{"test": true}` in its metadata, gets
the question, and the answer is queued like any chat message. The 202 names the answer's task
(of kind `agent_test`); when the answer is final the pipeline writes the answer, its citations
and its latency into the task's result (chat/answer_task.py), readable at `/api/v1/tasks/{task_id}/status`.
The conversation stays, so the test can be read (or continued) like any other. Without a body
(or a `query`) the contract's sample question is asked.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.queries import Agents
from knowrithm_common.tasks import accepted
from knowrithm_common.tenancy import MEMBERS, Subject, subject_dependency
from knowrithm_conversations.agent_test import service
from knowrithm_conversations.chat.deps import Deps, get_deps

router = APIRouter(tags=["Agents"])
Chat = Annotated[Deps, Depends(get_deps)]
# Members of the company test its agents (API keys with `write`: a test writes a conversation).
Tester = Annotated[Subject, Depends(subject_dependency(MEMBERS, "write"))]


SAMPLE_QUERY = "Hello, can you introduce yourself?"  # the contract's example


class AgentTestBody(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    query: str = Field(SAMPLE_QUERY, min_length=1, description="The question to ask the agent")


@router.post("/api/v1/agent/{agent_id}/test", status_code=202, responses=errors(409))
async def run_agent_test(
    subject: Tester, agent_id: uuid.UUID, session: Session, deps: Chat, agents: Agents,
    body: AgentTestBody | None = None,
) -> JSONResponse:
    """Ask an agent a question through the chat pipeline; the task result holds answer, citations, latency."""
    body = body or AgentTestBody()
    queued = await service.run_test(session, subject, agent_id, body.query,
                                    limit=deps.settings.max_message_chars, agents=agents)
    content = {
        **accepted(queued.task_id, "The question is queued; the task's result will hold the answer."),
        "conversation_id": str(queued.conversation.id),
        "message_id": str(queued.question.id),
        "assistant_message_id": str(queued.answer.id),
    }
    return JSONResponse(content, status_code=202)
