"""What chat reacts to: the AnswerMessage jobs (`jobs.conversations.>`), answered by any
replica's answerer (pipeline.py), so every replica can generate every answer.

The stream hub and the in-flight registry (their NATS subscriptions carry answers between
replicas) belong to chat's `Deps` instead: built and closed by the lifespan hooks, they run
from before the answerer starts until after it has drained, so the streams of answers it
finishes while stopping still get their final events."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from knowrithm_common.events.conversations import AnswerMessage
from knowrithm_common.messaging.jobs import JobWorker
from knowrithm_common.service import Background
from knowrithm_conversations.chat.pipeline import answer_message
from knowrithm_conversations.config import ConversationsSettings

ANSWERER = "conversations-answerer"


def subscribers(app: FastAPI) -> list[Background]:
    """The answerer: a JOBS worker running up to CONVERSATIONS_ANSWER_CONCURRENCY answers at once."""
    settings: ConversationsSettings = app.state.settings
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
    return [answerer]
