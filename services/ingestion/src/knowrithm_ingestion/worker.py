"""The ingestion worker: runs the jobs of the JOBS work queue (`jobs.ingestion.>`).

It is an HTTP process like the services (health, readiness, metrics) so probes and
supervision are the same everywhere; it serves no `/api` routes. Jobs of an unknown type are
dead-lettered with the reason, not silently dropped. Scale by replicas and by
INGESTION_WORKER_CONCURRENCY (jobs at once per process).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_common.events.ingestion import CrawlWebsite, ProcessDocument, PurgeWebsiteSource, ReembedAgent
from knowrithm_common.messaging.jobs import JobHandler, JobWorker
from knowrithm_common.service import Background, ServiceSpec, create_service_app
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.models import SCHEMA, shared
from knowrithm_ingestion.pipeline.deps import Deps, build_deps, close_deps
from knowrithm_ingestion.pipeline.process import process_document
from knowrithm_ingestion.pipeline.reembed import reembed_agent
from knowrithm_ingestion.websites.jobs import crawl_website, purge_website_source

WORKER_CONSUMER = "ingestion-worker"


def handlers(deps: Deps) -> dict[str, JobHandler]:
    """Job type -> handler bound to this process's dependencies."""
    return {
        ProcessDocument.event_type: functools.partial(process_document, deps),
        ReembedAgent.event_type: functools.partial(reembed_agent, deps),
        CrawlWebsite.event_type: functools.partial(crawl_website, deps),
        PurgeWebsiteSource.event_type: functools.partial(purge_website_source, deps),
    }


def workers(app: FastAPI) -> Sequence[Background]:
    settings: IngestionSettings = app.state.settings
    worker = JobWorker(
        nats=app.state.nats,
        durable=WORKER_CONSUMER,
        filter_subject="jobs.ingestion.>",
        handlers=handlers(app.state.deps),
        concurrency=settings.worker_concurrency,
        ack_wait=settings.job_ack_wait_seconds,
        max_deliver=settings.job_max_deliver,
    )
    app.state.job_worker = worker
    return [worker]


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    """Build the worker app (uvicorn --factory knowrithm_ingestion.worker:create_app)."""
    spec = ServiceSpec(
        name="ingestion-worker",
        schema=SCHEMA,
        outbox=shared.outbox,
        consumers=workers,
        on_startup=[build_deps],
        on_shutdown=[close_deps],
        routers=[],
        description="Ingestion worker: extraction, chunking, embedding, crawling.",
    )
    return create_service_app(spec, settings or IngestionSettings())
