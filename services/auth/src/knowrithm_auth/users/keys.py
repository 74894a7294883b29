"""API keys touched by user and company administration: revoked, or dropped from the gateway's cache.

The gateway caches a resolved key (with its owner's role) in Redis. When an owner's role or
status changes, the cached entries are dropped after commit so the next request resolves the
key again; revoking also records `auth.api_key.revoked.v1`, which names the cache entry too.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import ApiKey, platform
from knowrithm_common.db import after_commit
from knowrithm_common.db.base import utcnow
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.auth import ApiKeyRevokedV1
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.tokens import API_KEY_CACHE_KEY

SOURCE = "auth"


def forget_cached_keys(session: AsyncSession, redis: Redis, keys: Sequence[ApiKey]) -> None:
    """After commit: drop these keys from the gateway's cache."""
    names = [API_KEY_CACHE_KEY.format(key_hash=key.key_hash) for key in keys]
    if not names:
        return

    async def drop() -> None:
        await redis.delete(*names)

    after_commit(session, drop)


async def revoke_keys(session: AsyncSession, redis: Redis, keys: Sequence[ApiKey], actor: Actor) -> int:
    """Revoke keys now, record `auth.api_key.revoked.v1` for each; how many were revoked."""
    now = utcnow()
    for key in keys:
        key.revoked_at = now
        event = ApiKeyRevokedV1(api_key_id=key.id, company_id=key.company_id, key_hash=key.key_hash)
        await record_event(
            session, platform.outbox, new_event(event, source=SOURCE, company_id=key.company_id, actor=actor)
        )
    await session.flush()
    forget_cached_keys(session, redis, keys)
    return len(keys)
