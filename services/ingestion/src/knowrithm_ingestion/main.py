"""The ingestion API app: documents and chunks, search, web sites; it also keeps the agents
projection and answers `rpc.ingestion.search.v1`."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import Background, ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router
from knowrithm_ingestion import agents_view
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.documents import upload_task
from knowrithm_ingestion.documents.endpoints import router as documents_router
from knowrithm_ingestion.models import SCHEMA, shared
from knowrithm_ingestion.pipeline.deps import build_deps, close_deps, watch_config
from knowrithm_ingestion.search.endpoints import router as search_router
from knowrithm_ingestion.search.rpc import search_responder
from knowrithm_ingestion.websites.endpoints import router as websites_router


def background(app: FastAPI) -> Sequence[Background]:
    """The agents and companies projections, and the search responder."""
    projections = [
        EventConsumer(db=app.state.db, processed=shared.processed, nats=app.state.nats, durable=durable,
                      filter_subject=subject, handlers=agents_view.HANDLERS)
        for durable, subject in (("ingestion-agents", "events.agents.agent.>"),
                                 ("ingestion-companies", "events.auth.company.>"))
    ]
    return [*projections, search_responder(app)]


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    """Build the ingestion API app (uvicorn --factory knowrithm_ingestion.main:create_app)."""
    spec = ServiceSpec(
        name="ingestion",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[
            documents_router, search_router, websites_router,
            tasks_router(shared.tasks, derived={upload_task.KIND: upload_task.view}),
        ],
        consumers=background,
        on_startup=[build_deps, watch_config],
        on_shutdown=[close_deps],
        description="Documents, chunks, web sites and search.",
    )
    return create_service_app(spec, settings or IngestionSettings())
