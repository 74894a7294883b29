"""What the agents projection reacts to: the agents service's `events.agents.agent.*`."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import Background
from knowrithm_conversations.agents.handlers import HANDLERS
from knowrithm_conversations.models import shared


def subscribers(app: FastAPI) -> list[Background]:
    """The consumer keeping the projection (its handlers: handlers.py)."""
    projection = EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable="conversations-agents",
        filter_subject="events.agents.agent.>",
        handlers=HANDLERS,
    )
    return [projection]
