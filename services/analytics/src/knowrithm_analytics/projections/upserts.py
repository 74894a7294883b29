"""Building blocks of replay-safe projection writes.

Every handler is idempotent on its own, without the processed-events record (a rebuild replays
the stream while the live consumer runs): facts are inserted once (`ON CONFLICT DO NOTHING`),
states are replaced only by a newer event. An event may arrive before the one that creates
its row (a retry delays one delivery, not the next); the row then starts as a placeholder
that the creating event fills in without undoing the newer state. A conflicting row is only
ever updated by an event of its own company: ids never cross tenants.

Statements are built once, at import, on the Core tables and executed with parameters: the
per-event cost is then one round trip, not the construction and cache-key walk of a new
statement (measured: about a third of the time per event; see bench/analytics_projection.py).
Facts (messages, feedback, API requests, audit entries) are queued with `insert_later` and
written just before the transaction commits, one multi-row statement per table: a batch of
events costs one round trip per fact table instead of one per event.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Table, case, or_
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from knowrithm_common.events import EventEnvelope

# The state time of a placeholder row: any real event is newer.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Stands in for a conversation's entity until its `created` event arrives.
UNKNOWN_ENTITY = uuid.UUID(int=0)

Excluded = Any  # the `excluded` pseudo-row of an INSERT ... ON CONFLICT


class MissingCompany(ValueError):
    """A tenant-owned event came without its company: a producer's bug (dead-lettered)."""


def company_of(event: EventEnvelope) -> uuid.UUID:
    """The envelope's company, required for tenant-owned rows."""
    if event.company_id is None:
        raise MissingCompany(f"{event.type} {event.id} carries no company_id")
    return event.company_id


@functools.cache
def _lengths(table: Table) -> dict[str, int | None]:
    """Each column of `table` and the length of its text (None: not text, or unbounded)."""
    return {column.name: getattr(column.type, "length", None) for column in table.columns}


def row(table: Table, *sources: BaseModel | Mapping[str, Any], **values: Any) -> dict[str, Any]:
    """A row of `table` for its prebuilt statements (every column, so rows batch together).

    Each column takes its value from `values`, else from the first of `sources` (an event's
    payload, then placeholders) with a field of its name, else None. Text is cut to what its
    column holds (events are not bound by our lengths).
    """
    lengths = _lengths(table)
    if unknown := values.keys() - lengths.keys():
        raise KeyError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {}
    for source in reversed(sources):
        fields.update(vars(source) if isinstance(source, BaseModel) else source)
    fields.update(values)
    result: dict[str, Any] = {}
    for name, length in lengths.items():
        value = fields.get(name)
        result[name] = value[:length] if length is not None and isinstance(value, str) else value
    return result


def is_newer(current: Any, incoming: Any) -> ColumnElement[bool]:
    """SQL: the incoming state time is newer than the row's (a row without one is always older)."""
    return or_(current.is_(None), current < incoming)


def if_newer(table: Table, excluded: Excluded, *, time: str, columns: Iterable[str]) -> dict[str, Any]:
    """`SET` clauses taking each column from the insert only when its event is newer."""
    newer = is_newer(table.c[time], excluded[time])
    return {name: case((newer, excluded[name]), else_=table.c[name]) for name in columns}


def copied(excluded: Excluded, columns: Iterable[str]) -> dict[str, Any]:
    """`SET` clauses taking each column from the insert."""
    return {name: excluded[name] for name in columns}


def upsert(
    table: Table,
    key: str,
    set_: Callable[[Excluded], Mapping[str, Any]],
    *,
    where: Callable[[Excluded], ColumnElement[bool]] | None = None,
    same_company: bool = True,
) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET `set_(excluded)`, for a row of the same company."""
    stmt = insert(table)
    excluded = stmt.excluded
    condition = where(excluded) if where is not None else None
    if same_company:
        owner = table.c.company_id.is_not_distinct_from(excluded.company_id)
        condition = owner if condition is None else owner & condition
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]], set_=dict(set_(excluded)), where=condition
    )


def insert_once(table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: a fact recorded once."""
    return insert(table).on_conflict_do_nothing()


async def run(
    session: AsyncSession, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """Execute a prebuilt Core statement in the session's transaction (a list: executemany)."""
    connection = await session.connection()
    await connection.execute(stmt, params)


_QUEUED = "knowrithm.analytics.insert_later"


def insert_later(
    session: AsyncSession, stmt: Insert, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """Queue insert-once rows of `stmt`, written when the transaction commits (or by `write_queued`)."""
    sync = session.sync_session
    queued: dict[Insert, list[Mapping[str, Any]]] | None = sync.info.get(_QUEUED)
    if queued is None:
        queued = sync.info[_QUEUED] = {}
        if not sa_event.contains(sync, "before_commit", _write_before_commit):
            sa_event.listen(sync, "before_commit", _write_before_commit)
            sa_event.listen(sync, "after_rollback", _drop_after_rollback)
    bucket = queued.setdefault(stmt, [])
    if isinstance(rows, Mapping):
        bucket.append(rows)
    else:
        bucket.extend(rows)


def _write_before_commit(sync: Session) -> None:
    # Runs inside the async session's greenlet: the sync API performs the I/O.
    for stmt, rows in sync.info.pop(_QUEUED, {}).items():
        sync.connection().execute(stmt, rows)


def _drop_after_rollback(sync: Session) -> None:
    sync.info.pop(_QUEUED, None)


async def write_queued(session: AsyncSession) -> None:
    """Write the queued rows now (e.g. inside a savepoint, so they share its fate)."""
    connection = await session.connection()
    for stmt, rows in session.sync_session.info.pop(_QUEUED, {}).items():
        await connection.execute(stmt, rows)


def drop_queued(session: AsyncSession) -> None:
    """Forget the queued rows (their savepoint was rolled back)."""
    session.sync_session.info.pop(_QUEUED, None)
