"""The conversations service app: conversations, messages, chat with streamed answers.

Besides its routes it keeps the agents projection (agents/), runs an answerer (chat/: the JOBS
consumer of `jobs.conversations.>`, so any replica can generate any answer) and the stream hub
that carries answers between replicas. The spec below lists everything it reacts to.
"""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.queries import close_agents_owner
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router
from knowrithm_conversations.agent_test.endpoints import router as agent_test_router
from knowrithm_conversations.agents import subscribers as agents_subscribers
from knowrithm_conversations.agents.handlers import build_agents_owner
from knowrithm_conversations.chat import subscribers as chat_subscribers
from knowrithm_conversations.chat.answer_task import POLL_AFTER_MS
from knowrithm_conversations.chat.deps import build_deps, close_deps
from knowrithm_conversations.chat.endpoints import router as chat_router
from knowrithm_conversations.config import ConversationsSettings
from knowrithm_conversations.conversations.endpoints import router as conversations_router
from knowrithm_conversations.feedback.endpoints import router as feedback_router
from knowrithm_conversations.leads.endpoints import router as leads_router
from knowrithm_conversations.models import SCHEMA, shared
from knowrithm_conversations.reports.endpoints import router as reports_router
from knowrithm_conversations.widget.endpoints import router as widget_router


def create_app(settings: ConversationsSettings | None = None) -> FastAPI:
    """Build the conversations app (uvicorn --factory knowrithm_conversations.main:create_app)."""
    spec = ServiceSpec(
        name="conversations",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[reports_router, conversations_router, chat_router,
                 tasks_router(shared.tasks, poll_after_ms=POLL_AFTER_MS), widget_router,
                 agent_test_router, leads_router, feedback_router],
        subscribers=[agents_subscribers.subscribers, chat_subscribers.subscribers],
        on_startup=[build_agents_owner, build_deps],
        on_shutdown=[close_deps, close_agents_owner],
        description="Conversations, messages, chat with streamed, cited answers.",
    )
    return create_service_app(spec, settings or ConversationsSettings())
