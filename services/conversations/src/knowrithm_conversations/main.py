"""The conversations service app: conversations, messages, chat with streamed answers.

Besides its routes it keeps the agents projection, runs an answerer (the JOBS consumer of
`jobs.conversations.>`, so any replica can generate any answer) and the stream hub that
carries answers between replicas.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_common.events.conversations import AnswerMessage
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.messaging.jobs import JobWorker
from knowrithm_common.queries import close_agents_owner
from knowrithm_common.service import Background, ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router
from knowrithm_conversations import agents_view
from knowrithm_conversations.agent_test.endpoints import router as agent_test_router
from knowrithm_conversations.chat.answer_task import POLL_AFTER_MS
from knowrithm_conversations.chat.deps import build_chat_deps, close_chat_deps
from knowrithm_conversations.chat.endpoints import router as chat_router
from knowrithm_conversations.chat.pipeline import answer_message
from knowrithm_conversations.config import ConversationsSettings
from knowrithm_conversations.conversations.endpoints import router as conversations_router
from knowrithm_conversations.feedback.endpoints import router as feedback_router
from knowrithm_conversations.leads.endpoints import router as leads_router
from knowrithm_conversations.models import SCHEMA, shared
from knowrithm_conversations.widget.endpoints import router as widget_router

ANSWERER = "conversations-answerer"


def background(app: FastAPI) -> Sequence[Background]:
    """The agents projection and the answerer."""
    settings: ConversationsSettings = app.state.settings
    projection = EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable="conversations-agents",
        filter_subject="events.agents.agent.>",
        handlers=agents_view.HANDLERS,
    )
    answerer = JobWorker(
        nats=app.state.nats,
        durable=ANSWERER,
        filter_subject="jobs.conversations.>",
        handlers={AnswerMessage.event_type: functools.partial(answer_message, app.state.chat)},
        concurrency=settings.answer_concurrency,
        ack_wait=settings.answer_ack_wait_seconds,
        max_deliver=settings.answer_max_deliver,
        backoff=(1, 5),
    )
    app.state.answerer = answerer
    return [projection, answerer]


def create_app(settings: ConversationsSettings | None = None) -> FastAPI:
    """Build the conversations app (uvicorn --factory knowrithm_conversations.main:create_app)."""
    spec = ServiceSpec(
        name="conversations",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[conversations_router, chat_router, tasks_router(shared.tasks, poll_after_ms=POLL_AFTER_MS),
                 widget_router, agent_test_router, leads_router, feedback_router],
        consumers=background,
        on_startup=[agents_view.build_agents_owner, build_chat_deps],
        on_shutdown=[close_chat_deps, close_agents_owner],
        description="Conversations, messages, chat with streamed, cited answers.",
    )
    return create_service_app(spec, settings or ConversationsSettings())
