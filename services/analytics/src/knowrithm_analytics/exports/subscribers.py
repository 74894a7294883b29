"""What exports react to: the export jobs (`jobs.analytics.export.>`) that write large exports."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.exports.jobs import run_export
from knowrithm_common.events.analytics import ExportData
from knowrithm_common.messaging.jobs import JobWorker
from knowrithm_common.service import Background

EXPORT_WORKER = "analytics-exports"


def subscribers(app: FastAPI) -> Sequence[Background]:
    """The worker of the export jobs (also `app.state.export_worker`); any replica takes one."""
    worker = JobWorker(
        nats=app.state.nats,
        durable=EXPORT_WORKER,
        filter_subject="jobs.analytics.export.>",
        handlers={ExportData.event_type: functools.partial(run_export, app)},
        concurrency=2,
        ack_wait=60,
        max_deliver=3,
        backoff=(5, 30),
    )
    app.state.export_worker = worker
    return [worker]
