"""Local projections kept from events (DESIGN §3), and read-your-writes on top of them.

A projection lags its owner by the time the owner's event takes to arrive. A client that has
just written to the owner (created an agent, got 201) must not be told by another service that
the thing does not exist, so a lookup the projection cannot serve asks the owner over NATS
request-reply (`OwnerFallback`), applies the answer exactly as the event would be applied
(`upsert_if_newer`: never over a newer state), and only then answers. Every such miss is
counted in `knowrithm_projection_misses_total{projection, outcome}`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.session import Database
from knowrithm_common.errors import KnowrithmError, ServiceUnavailable
from knowrithm_common.messaging.rpc import RpcFailed, RpcUnavailable

logger = logging.getLogger(__name__)

K = TypeVar("K")
S = TypeVar("S")
R = TypeVar("R")
T = TypeVar("T")

PROJECTION_MISSES = Counter(
    "knowrithm_projection_misses_total",
    "Lookups a local projection could not serve, by what its owner answered "
    "(applied: the owner's newer state was applied; current: the projection already held the "
    "owner's state, e.g. a refusal the owner confirms; not_found: the owner has no such id; "
    "unavailable: the owner did not answer in time)",
    ["projection", "outcome"],
)

# Seconds a client should wait before retrying when the owner did not answer.
RETRY_AFTER_SECONDS = 1
# Connections a fallback applies answers with (a pool of its own: see Database.sibling).
POOL_SIZE = 2


async def upsert_if_newer(
    session: AsyncSession, model: Any, *, key: str, row: dict[str, Any], event_time: dt.datetime
) -> Any | None:
    """Replace the row keyed by `row[key]` with `row` unless it holds a newer event's state.

    Each event carries the whole state, so applying it is a replace; an older event arriving
    after a newer one (a replay), or the same state again (a redelivery, an owner's answer the
    projection already holds), changes nothing. Safe against a concurrent writer of the same key
    (the consumer and an owner fallback): the existing row is locked, and an insert racing
    another insert only wins when it is newer. Returns the previous row (None when new, or
    `model` itself unchanged when the event was not newer: compare with `is`).
    """
    column = getattr(model, key)
    previous = await session.scalar(
        select(model).where(column == row[key]).with_for_update().execution_options(populate_existing=True)
    )
    if previous is not None and previous.event_time >= event_time:
        return model
    snapshot = None if previous is None else {c: getattr(previous, c) for c in row}
    stmt = pg_insert(model).values(**row, event_time=event_time)
    updates = {c: stmt.excluded[c] for c in [*row, "event_time"] if c != key}
    newer = model.__table__.c.event_time <= stmt.excluded.event_time
    await session.execute(stmt.on_conflict_do_update(index_elements=[column], set_=updates, where=newer))
    if previous is not None:
        await session.refresh(previous)
    return snapshot


class OwnerUnavailable(ServiceUnavailable):
    """The projection has never seen the id and its owner did not answer: retry shortly."""

    code = "owner_unavailable"
    message = "The owning service did not answer in time; retry in a moment"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class OwnerFallback(Generic[K, S]):
    """Read-your-writes for one projection: what it cannot serve, its owner is asked about.

    `ask(key)` returns the owner's state of `key` (None when the owner has no such id) or raises
    `RpcUnavailable`; `apply(session, state)` writes that state the way the matching event would
    and says whether it changed anything. Answers are applied in a transaction of their own on
    a small pool of their own (`db.sibling`: the request holds a connection of the main pool),
    committed before the caller reads again, so every later request finds them too.
    """

    def __init__(
        self,
        *,
        projection: str,
        owner: str,
        db: Database,
        ask: Callable[[K], Awaitable[S | None]],
        apply: Callable[[AsyncSession, S], Awaitable[bool]],
    ) -> None:
        self.projection, self.owner = projection, owner
        self.db = db.sibling(pool_size=POOL_SIZE)
        self.ask, self.apply = ask, apply

    async def close(self) -> None:
        """Release the fallback's connections (lifespan shutdown)."""
        await self.db.dispose()

    async def read(
        self,
        key: K,
        *,
        load: Callable[[], Awaitable[R | None]],
        serve: Callable[[R | None], Awaitable[T]],
    ) -> T:
        """`serve(load())`; when `serve` refuses (a KnowrithmError), ask the owner, then serve again.

        `load` reads the projection's row (None: never seen); `serve` returns what the caller
        needs or raises the refusal the projection's state calls for (404, inactive…). A refusal
        stands when the owner confirms it; when the owner does not answer, a row the projection
        holds is served as it is (it is a real, if possibly late, state), while an id it has
        never seen is a 503 `owner_unavailable`: a 404 would be a lie the client cannot detect.
        """
        row = await load()
        try:
            return await serve(row)
        except KnowrithmError:
            if not await self._refreshed(key, seen=row is not None):
                raise
        return await serve(await load())

    async def _refreshed(self, key: K, *, seen: bool) -> bool:
        """Whether the owner answered with a state (now in the projection, if it was newer)."""
        try:
            state = await self.ask(key)
        except (RpcUnavailable, RpcFailed) as exc:
            self._count("unavailable")
            logger.warning("%s: %s did not answer about %s (%s)", self.projection, self.owner, key, exc)
            if seen:
                return False
            raise OwnerUnavailable(
                f"The {self.owner} service did not answer in time; retry in a moment"
            ) from exc
        if state is None:
            self._count("not_found")
            return False
        async with self.db.session() as session, session.begin():
            changed = await self.apply(session, state)
        # Not newer: the projection holds it already (its event arrived meanwhile, or the refusal
        # it is serving is the owner's too). Either way, serving again answers right.
        self._count("applied" if changed else "current")
        return True

    def _count(self, outcome: str) -> None:
        PROJECTION_MISSES.labels(self.projection, outcome).inc()
