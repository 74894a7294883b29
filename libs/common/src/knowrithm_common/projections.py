"""Helpers for local projections kept from events (DESIGN §3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def upsert_if_newer(
    session: AsyncSession, model: Any, *, key: str, row: dict[str, Any], event_time: dt.datetime
) -> Any | None:
    """Replace the row keyed by `row[key]` with `row` unless it holds a newer event's state.

    Each event carries the whole state, so applying it is a replace; an older event arriving
    after a newer one (a replay) changes nothing. Returns the previous row (None when new, or
    `model` itself unchanged when the event was older: compare with `is`).
    """
    previous = await session.get(model, row[key])
    if previous is not None and previous.event_time > event_time:
        return model
    snapshot = None if previous is None else {c: getattr(previous, c) for c in row}
    stmt = pg_insert(model).values(**row, event_time=event_time)
    updates = {c: stmt.excluded[c] for c in [*row, "event_time"] if c != key}
    await session.execute(stmt.on_conflict_do_update(index_elements=[getattr(model, key)], set_=updates))
    if previous is not None:
        await session.refresh(previous)
    return snapshot
