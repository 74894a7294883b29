"""The ingestion API app: documents and chunks, search, web sites, database connections; it also
keeps the agents projection and answers `rpc.ingestion.search.v1`."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router
from knowrithm_ingestion.agents import subscribers as agents
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.databases.analysis.endpoints import router as analysis_router
from knowrithm_ingestion.databases.connections.endpoints import router as connections_router
from knowrithm_ingestion.databases.export.endpoints import router as export_router
from knowrithm_ingestion.databases.queries import subscribers as database_queries
from knowrithm_ingestion.databases.search.endpoints import router as database_search_router
from knowrithm_ingestion.databases.semantics.endpoints import router as semantics_router
from knowrithm_ingestion.databases.texttosql.endpoints import router as texttosql_router
from knowrithm_ingestion.documents import upload_task
from knowrithm_ingestion.documents.endpoints import router as documents_router
from knowrithm_ingestion.models import SCHEMA, shared
from knowrithm_ingestion.pipeline.deps import build_deps, close_deps, watch_config
from knowrithm_ingestion.search import subscribers as search
from knowrithm_ingestion.search.endpoints import router as search_router
from knowrithm_ingestion.websites.endpoints import router as websites_router


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    """Build the ingestion API app (uvicorn --factory knowrithm_ingestion.main:create_app)."""
    spec = ServiceSpec(
        name="ingestion",
        schema=SCHEMA,
        outbox=shared.outbox,
        routers=[
            documents_router, search_router, websites_router, export_router, analysis_router,
            connections_router, semantics_router, database_search_router, texttosql_router,
            tasks_router(shared.tasks, derived={upload_task.KIND: upload_task.view}),
        ],
        subscribers=[agents.subscribers, search.subscribers, database_queries.subscribers],
        on_startup=[build_deps, watch_config],
        on_shutdown=[close_deps],
        description="Documents, chunks, web sites, database connections and search.",
    )
    return create_service_app(spec, settings or IngestionSettings())
