"""Applying many events in one transaction (the rebuild's replay), as the live consumer would.

Each event is recorded in the projections consumer's processed-events record first and applied
only if it was not there (a redelivered event id, or one the live consumer applied meanwhile,
is skipped: the first occurrence wins, exactly as for the live consumer). If any handler of a
batch fails, the batch is applied again event by event inside savepoints: the failing events
are reported and left out (the live consumer dead-letters the same), the rest land. A
deadlock with the live consumer (both writing the same rows) is not a failure of the events:
the batch is tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from knowrithm_analytics.projections.upserts import drop_queued, write_queued
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.messaging.consumer import Handler, apply_first_seen

# Deadlock and serialization failure: another transaction wrote the same rows; try again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """A database error that says "try again", not "this event cannot be applied"."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    failed: list[tuple[EventEnvelope, str]] = field(default_factory=list)


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """`work()`, tried again (up to ATTEMPTS times) while the database answers "try again"."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class Replay:
    """Where a batch is applied: the database, the handlers, and whose processed-events record."""

    db: Database
    handlers: Mapping[str, Handler]
    processed: Table
    consumer: str

    async def together(self, events: Sequence[EventEnvelope]) -> BatchOutcome:
        async with self.db.sessions() as session, session.begin():
            batch = [(e, self.handlers[e.type]) for e in events]
            outcomes = await apply_first_seen(session, self.processed, self.consumer, batch)
        return BatchOutcome(applied=outcomes.count("applied"), duplicates=outcomes.count("duplicate"))

    async def one_by_one(self, events: Sequence[EventEnvelope]) -> BatchOutcome:
        outcome = BatchOutcome()
        async with self.db.sessions() as session, session.begin():
            for event in events:
                try:
                    async with session.begin_nested():
                        one = [(event, self.handlers[event.type])]
                        (result,) = await apply_first_seen(session, self.processed, self.consumer, one)
                        if result == "duplicate":
                            outcome.duplicates += 1
                            continue
                        await write_queued(session)  # inside the savepoint: its rows share its fate
                    outcome.applied += 1
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    drop_queued(session)
                    outcome.failed.append((event, repr(exc)[:500]))
        return outcome


async def apply_batch(
    db: Database,
    events: Sequence[EventEnvelope],
    *,
    handlers: Mapping[str, Handler],
    processed: Table,
    consumer: str,
) -> BatchOutcome:
    """Apply `events` (all with a handler) in one transaction; on a failure, one savepoint each."""
    replay = Replay(db, handlers, processed, consumer)

    async def attempt() -> BatchOutcome:
        try:
            return await replay.together(events)
        except Exception as exc:
            if is_transient(exc):
                raise
        return await replay.one_by_one(events)

    return await retrying(attempt)
