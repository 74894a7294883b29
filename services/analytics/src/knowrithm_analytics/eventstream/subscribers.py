"""What the live event stream reacts to: every event, through the process's EventHub."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.eventstream.hub import EventHub
from knowrithm_common.service import Background


def subscribers(app: FastAPI) -> Sequence[Background]:
    """The hub (also `app.state.event_hub`, which the stream endpoint reads from)."""
    hub = EventHub(app.state.nats)
    app.state.event_hub = hub
    app.state.webhooks.announce = hub.announce  # each delivery attempt, shown live
    return [hub]
