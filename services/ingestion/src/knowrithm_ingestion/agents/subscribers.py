"""What the agents projection reacts to: agent events (`events.agents.agent.>`) and company
deletions and restores (`events.auth.company.>`), one durable consumer each."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import Background
from knowrithm_ingestion.agents.projection import HANDLERS
from knowrithm_ingestion.models import shared

STREAMS = (("ingestion-agents", "events.agents.agent.>"), ("ingestion-companies", "events.auth.company.>"))


def subscribers(app: FastAPI) -> list[Background]:
    """The consumers keeping the agents and companies projections."""
    return [
        EventConsumer(db=app.state.db, processed=shared.processed, nats=app.state.nats, durable=durable,
                      filter_subject=subject, handlers=HANDLERS)
        for durable, subject in STREAMS
    ]
