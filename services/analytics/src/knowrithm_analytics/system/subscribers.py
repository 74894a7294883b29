"""What system metrics react to: the sampling clock, and samples requested through the API."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from knowrithm_analytics.system.sampler import SystemSampler
from knowrithm_common.service import Background


def subscribers(app: FastAPI) -> Sequence[Background]:
    """This replica's sampler; also `app.state.system_sampler`, which the endpoints wake."""
    sampler = SystemSampler(db=app.state.db, nats=app.state.nats, settings=app.state.settings)
    app.state.system_sampler = sampler
    return [sampler]
