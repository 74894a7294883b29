"""Revocation the gateway sees within a request: deny-list entries written to Redis.

Written only after the database change commits (`after_commit`), and kept as long as the
access tokens they refuse can live; after that the tokens are expired anyway.
"""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db import after_commit
from knowrithm_common.tokens import REVOKED_JTI_KEY, REVOKED_SESSION_KEY, VALID_AFTER_KEY

_MARGIN_SECONDS = 60  # clock skew and the gateway's leeway on expiry


class Revocations:
    """Writes the Redis entries that make the gateway refuse access tokens."""

    def __init__(self, redis: Redis, *, access_ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = access_ttl_seconds + _MARGIN_SECONDS

    def revoke_token(self, session: AsyncSession, *, jti: str, session_id: uuid.UUID | None) -> None:
        """After commit: refuse one access token and every other token of its sign-in session."""

        async def write() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(REVOKED_JTI_KEY.format(jti=jti), 1, ex=self.ttl)
                if session_id is not None:
                    pipe.set(REVOKED_SESSION_KEY.format(sid=session_id), 1, ex=self.ttl)
                await pipe.execute()

        after_commit(session, write)

    def revoke_sessions(self, session: AsyncSession, session_ids: list[uuid.UUID]) -> None:
        """After commit: refuse every access token of these sign-in sessions."""
        if not session_ids:
            return

        async def write() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in session_ids:
                    pipe.set(REVOKED_SESSION_KEY.format(sid=sid), 1, ex=self.ttl)
                await pipe.execute()

        after_commit(session, write)

    def sign_out_user(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """After commit: refuse every access token the user holds now (forced sign-out)."""
        instant = time.time()

        async def write() -> None:
            await self.redis.set(VALID_AFTER_KEY.format(user_id=user_id), f"{instant:.6f}", ex=self.ttl)

        after_commit(session, write)
