"""The platform's JetStream streams, declared idempotently by every process on connect."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

EVENTS_STREAM = "EVENTS"
JOBS_STREAM = "JOBS"
DEADLETTER_STREAM = "DEADLETTER"
DEADLETTER_PREFIX = "deadletter."

_DAY = 24 * 3600

STREAMS = (
    # Facts: kept for 30 days so projections can be rebuilt by replay. The duplicate window
    # covers an outbox relay that republishes after a crash between publish and commit.
    StreamConfig(
        name=EVENTS_STREAM,
        subjects=["events.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * _DAY,
        duplicate_window=15 * 60,
    ),
    # Work: each job is removed once a worker acks it.
    StreamConfig(
        name=JOBS_STREAM,
        subjects=["jobs.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=15 * 60,
    ),
    # Poison messages with the error that stopped them, visible to operators.
    StreamConfig(
        name=DEADLETTER_STREAM,
        subjects=[DEADLETTER_PREFIX + ">"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * _DAY,
    ),
)


async def ensure_streams(js: JetStreamContext) -> None:
    """Create the streams, or update them to this configuration."""
    for config in STREAMS:
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
