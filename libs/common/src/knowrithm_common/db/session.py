"""Async engine and sessions; the request's session is the one commit point."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from knowrithm_common.settings import to_psycopg_url

logger = logging.getLogger(__name__)


class Database:
    """An engine for one service schema and a session factory; built in the lifespan."""

    def __init__(self, url: str, *, schema: str, pool_size: int = 5) -> None:
        self.url, self.schema = url, schema
        self.engine: AsyncEngine = create_async_engine(
            to_psycopg_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._after_commit_hooks: list[Callable[[], None]] = []

    def sibling(self, *, pool_size: int) -> Database:
        """Another handle on the same database and schema with a pool of its own; commits of its
        sessions run this one's hooks too. For work a request does while it holds a connection
        of the main pool: drawing a second one from the same pool could wait forever when every
        connection is held by requests doing the same."""
        other = Database(self.url, schema=self.schema, pool_size=pool_size)
        other._after_commit_hooks = self._after_commit_hooks
        return other

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` after every commit of a session from this database (e.g. wake the relay)."""
        self._after_commit_hooks.append(hook)

    def session(self) -> AsyncSession:
        session = self.sessions()
        if self._after_commit_hooks:
            hooks = self._after_commit_hooks

            @event.listens_for(session.sync_session, "after_commit")
            def _after_commit(_: object) -> None:
                for hook in hooks:
                    hook()

        return session

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


AFTER_COMMIT_KEY = "knowrithm.after_commit"


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[object]]) -> None:
    """Run `action` once this session's transaction has committed (never after a rollback).

    For side effects outside the database that must not run for a change that did not land,
    such as dropping a revoked key from the gateway's Redis cache. `get_session` awaits them
    before the response leaves, so the caller sees their effect as soon as it has the answer.
    """
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(action)


async def run_after_commit(session: AsyncSession) -> None:
    """Await the actions registered with `after_commit`, then forget them."""
    actions = session.info.pop(AFTER_COMMIT_KEY, [])
    for action in actions:
        try:
            await action()
        except Exception:
            # The change is committed; its event (outbox) is the backstop for what failed here.
            logger.exception("after-commit action failed")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: commits when the request succeeds, rolls back when it raises.

    Services only `flush()`; this is the single place a request's work is committed, so a
    row and its outbox event land together or not at all.
    """
    db: Database = request.app.state.db
    async with db.session() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop(AFTER_COMMIT_KEY, None)
            await session.rollback()
            raise
        await run_after_commit(session)


# The request's session as a FastAPI parameter type: `session: RequestSession`.
RequestSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
