"""The jobs of database analysis: AnalyzeDatabaseConnections (jobs.py), run by the worker's job
consumer (worker.py)."""

from __future__ import annotations

import functools

from knowrithm_common.events.ingestion import AnalyzeDatabaseConnections
from knowrithm_common.messaging.jobs import JobHandler
from knowrithm_ingestion.databases.analysis.jobs import analyze_connections
from knowrithm_ingestion.pipeline.deps import Deps


def jobs(deps: Deps) -> dict[str, JobHandler]:
    """Job type -> handler bound to this process's dependencies."""
    return {AnalyzeDatabaseConnections.event_type: functools.partial(analyze_connections, deps)}
