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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from knowrithm_analytics.projections.upserts import drop_queued, write_queued
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.messaging.consumer import Handler, apply_first_seen

# Deadlock and serialization failure: another transaction wrote the same rows; try again.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5


def is_transient(exc: BaseException) -> bool:
    """A database error that says "try again", not "this event cannot be applied"."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    failed: list[tuple[EventEnvelope, str]] = field(default_factory=list)


async def apply_batch(
    db: Database,
    events: Sequence[EventEnvelope],
    *,
    handlers: Mapping[str, Handler],
    processed: Table,
    consumer: str,
) -> BatchOutcome:
    """Apply `events` (all with a handler) in one transaction; on a failure, one savepoint each."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            try:
                return await _together(db, events, handlers=handlers, processed=processed, consumer=consumer)
            except Exception as exc:
                if is_transient(exc):
                    raise
            return await _one_by_one(db, events, handlers=handlers, processed=processed, consumer=consumer)
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


async def _together(
    db: Database,
    events: Sequence[EventEnvelope],
    *,
    handlers: Mapping[str, Handler],
    processed: Table,
    consumer: str,
) -> BatchOutcome:
    async with db.sessions() as session, session.begin():
        batch = [(e, handlers[e.type]) for e in events]
        outcomes = await apply_first_seen(session, processed, consumer, batch)
    return BatchOutcome(applied=outcomes.count("applied"), duplicates=outcomes.count("duplicate"))


async def _one_by_one(
    db: Database,
    events: Sequence[EventEnvelope],
    *,
    handlers: Mapping[str, Handler],
    processed: Table,
    consumer: str,
) -> BatchOutcome:
    outcome = BatchOutcome()
    async with db.sessions() as session, session.begin():
        for event in events:
            try:
                async with session.begin_nested():
                    one = [(event, handlers[event.type])]
                    (result,) = await apply_first_seen(session, processed, consumer, one)
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
