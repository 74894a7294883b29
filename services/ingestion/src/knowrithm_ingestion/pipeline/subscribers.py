"""The jobs the processing pipeline runs: ProcessDocument (process.py) and ReembedAgent (reembed.py),
run by the worker's job consumer (worker.py)."""

from __future__ import annotations

import functools

from knowrithm_common.events.ingestion import ProcessDocument, ReembedAgent
from knowrithm_common.messaging.jobs import JobHandler
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.pipeline.process import process_document
from knowrithm_ingestion.pipeline.reembed import reembed_agent


def jobs(deps: Deps) -> dict[str, JobHandler]:
    """Job type -> handler bound to this process's dependencies."""
    return {
        ProcessDocument.event_type: functools.partial(process_document, deps),
        ReembedAgent.event_type: functools.partial(reembed_agent, deps),
    }
