"""The ingestion worker: runs the jobs of the JOBS work queue (`jobs.ingestion.>`).

It is an HTTP process like the services (health, readiness, metrics) so probes and
supervision are the same everywhere; it serves no `/api` routes. Jobs of an unknown type are
dead-lettered with the reason, not silently dropped. Scale by replicas and by
INGESTION_WORKER_CONCURRENCY (jobs at once per process).

One durable consumer takes every ingestion job: JOBS is a work queue, on which consumers may
not share subjects, and one consumer keeps one concurrency limit per process. Each domain's
`subscribers.py` says which jobs it runs (`jobs(deps)`); `job_worker` joins them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import FastAPI

from knowrithm_common.messaging.jobs import JobHandler, JobWorker
from knowrithm_common.service import Background, ServiceSpec, Subscribers, create_service_app
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.databases.analysis import subscribers as database_analysis
from knowrithm_ingestion.databases.export import jobs as database_export
from knowrithm_ingestion.models import SCHEMA, shared
from knowrithm_ingestion.pipeline import subscribers as pipeline
from knowrithm_ingestion.pipeline.deps import Deps, build_deps, close_deps
from knowrithm_ingestion.websites import subscribers as websites

WORKER_CONSUMER = "ingestion-worker"

DomainJobs = Callable[[Deps], Mapping[str, JobHandler]]


def job_worker(*domains: DomainJobs) -> Subscribers:
    """The worker's one job consumer, running the jobs of `domains` (`jobs.ingestion.>`)."""

    def subscribers(app: FastAPI) -> list[Background]:
        settings: IngestionSettings = app.state.settings
        handlers = {kind: handler for jobs in domains for kind, handler in jobs(app.state.deps).items()}
        worker = JobWorker(
            nats=app.state.nats,
            durable=WORKER_CONSUMER,
            filter_subject="jobs.ingestion.>",
            handlers=handlers,
            concurrency=settings.worker_concurrency,
            ack_wait=settings.job_ack_wait_seconds,
            max_deliver=settings.job_max_deliver,
        )
        app.state.job_worker = worker
        return [worker]

    return subscribers


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    """Build the worker app (uvicorn --factory knowrithm_ingestion.worker:create_app)."""
    spec = ServiceSpec(
        name="ingestion-worker",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[],
        subscribers=[job_worker(pipeline.jobs, websites.jobs, database_export.jobs, database_analysis.jobs)],
        on_startup=[build_deps],
        on_shutdown=[close_deps],
        description="Ingestion worker: extraction, chunking, embedding, crawling.",
    )
    return create_service_app(spec, settings or IngestionSettings())
