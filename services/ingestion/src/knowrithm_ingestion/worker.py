"""The ingestion worker: consumes `jobs.ingestion.*` from the JOBS work queue.

It is an HTTP process like the services (health, readiness, metrics) so probes and
supervision are the same everywhere; it serves no `/api` routes. Job handlers register in
`JOB_HANDLERS` by job type; a job of an unknown type is dead-lettered with the reason, not
silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_common.messaging.consumer import EventConsumer, Handler
from knowrithm_common.messaging.streams import JOBS_STREAM
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_ingestion.models import SCHEMA, platform

JOB_HANDLERS: dict[str, Handler] = {}
WORKER_CONSUMER = "ingestion-worker"


def consumers(app: FastAPI) -> Sequence[EventConsumer]:
    return [
        EventConsumer(
            db=app.state.db,
            processed=platform.processed,
            nats=app.state.nats,
            durable=WORKER_CONSUMER,
            filter_subject="jobs.ingestion.>",
            stream=JOBS_STREAM,
            handlers=JOB_HANDLERS,
            deadletter_unknown=True,
        )
    ]


def create_app(settings: BaseServiceSettings | None = None) -> FastAPI:
    """Build the worker app (uvicorn --factory knowrithm_ingestion.worker:create_app)."""
    spec = ServiceSpec(
        name="ingestion-worker",
        schema=SCHEMA,
        outbox=platform.outbox,
        consumers=consumers,
        routers=[],
        description="Ingestion worker: extraction, chunking, embedding.",
    )
    return create_service_app(spec, settings or BaseServiceSettings())
