"""What the system-configuration domain runs beside the app: the snapshot publisher.

It reacts to committed configuration changes (the PATCH route asks it to publish once its
transaction commits) and to time (every AUTH_SYSTEM_CONFIG_REPUBLISH_SECONDS, and forced at
start), keeping the known keys' snapshot in Redis for every service's watcher (publisher.py).
"""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_auth.sysconfig.publisher import ConfigPublisher
from knowrithm_common.service import Background


def subscribers(app: FastAPI) -> list[Background]:
    """The configuration publisher, also kept in `app.state.config_publisher` for the PATCH route."""
    state = app.state
    publisher = ConfigPublisher(
        db=state.db, redis=state.redis, every_seconds=state.settings.system_config_republish_seconds
    )
    app.state.config_publisher = publisher
    return [publisher]
