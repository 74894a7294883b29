"""What the projections react to: every event (kept in the projections and the audit trail),
and the clock that recomputes the business gauges from them."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.models import shared
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_analytics.projections.metrics import BusinessMetrics
from knowrithm_common.messaging.consumer import EventConsumer
from knowrithm_common.service import Background


def subscribers(app: FastAPI) -> Sequence[Background]:
    """The projections consumer (also `app.state.projections`) and the business gauges."""
    projections = EventConsumer(
        db=app.state.db,
        processed=shared.processed,
        nats=app.state.nats,
        durable=app.state.settings.projections_consumer,
        filter_subject="events.>",
        handlers=HANDLERS,
        # One transaction per fetched batch: ~5x the events/s of one per event
        # (bench/analytics_projection.py); the handlers are idempotent either way.
        batch=256,
        transaction_per_batch=True,
    )
    app.state.projections = projections
    refresh = app.state.settings.business_metrics_refresh_seconds
    return [projections, BusinessMetrics(app.state.db, refresh_seconds=refresh)]
