"""API-key use cases: create (secret shown once), list, revoke, resolve for the gateway, usage."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.apikeys.schemas import ApiKeyCreate, ApiKeyOut
from knowrithm_auth.audit import audit
from knowrithm_auth.config import AuthSettings
from knowrithm_auth.models import ApiKey, Company, User, outbox
from knowrithm_common.db import after_commit
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import Forbidden, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import ApiKeyCreatedV1, ApiKeyRevokedV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.tokens import (
    API_KEY_CACHE_KEY,
    API_KEY_PREFIX,
    API_SECRET_PREFIX,
    ApiKeyRecord,
    credential_hash,
)

_PRIVILEGED = {"admin", "full_access"}


class ApiKeyNotFound(NotFound):
    code, message = "api_key_not_found", "API key not found"


def status_of(key: ApiKey, now: dt.datetime | None = None) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def to_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(
        {**{c: getattr(key, c) for c in ApiKeyOut.model_fields if c != "status"}, "status": status_of(key)}
    )


async def create_key(
    session: AsyncSession, data: ApiKeyCreate, *, principal: Principal, actor: Actor, settings: AuthSettings
) -> tuple[ApiKey, str, str]:
    """A new key for the calling user's company; the key and secret are returned only here."""
    if principal.company_id is None or principal.user_id is None:
        raise Forbidden("API keys belong to a company; super admins act through a company's users")
    if principal.impersonator_id is not None:
        raise Forbidden("An impersonation session cannot create lasting credentials")
    if principal.role not in (Role.ADMIN, Role.SUPER_ADMIN) and _PRIVILEGED & {
        s.rpartition(":")[2] for s in data.scopes
    }:
        raise Forbidden("Only admins can create keys with the admin or full_access scope")
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_secret = API_SECRET_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    key = ApiKey(
        id=uuid.uuid4(),
        company_id=principal.company_id,
        user_id=principal.user_id,
        name=data.name,
        key_prefix=api_key[:8],
        key_hash=credential_hash(api_key),
        secret_hash=credential_hash(api_secret),
        scopes=data.scopes,
        permissions=data.permissions,
        rate_limit_per_hour=data.rate_limit_per_hour or settings.api_key_default_per_hour,
        rate_limit_per_day=data.rate_limit_per_day or settings.api_key_default_per_day,
        expires_at=now + dt.timedelta(days=data.expires_in_days) if data.expires_in_days else None,
        usage_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(key)
    await session.flush()
    created = ApiKeyCreatedV1(
        api_key_id=key.id, company_id=key.company_id, user_id=key.user_id, name=key.name, scopes=key.scopes,
        key_prefix=key.key_prefix, rate_limit_per_hour=key.rate_limit_per_hour,
        rate_limit_per_day=key.rate_limit_per_day, expires_at=key.expires_at,
    )
    await outbox.add(session, created, company_id=key.company_id, actor=actor)
    await audit(session, action="api_key.created", actor=actor, company_id=key.company_id,
                target_type="api_key", target_id=key.id, detail={"scopes": key.scopes})
    return key, api_key, api_secret


async def list_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    """The calling user's keys that are not revoked, newest first."""
    rows = await session.scalars(
        select(ApiKey)
        .where(
            ApiKey.user_id == principal.user_id,
            ApiKey.company_id == principal.company_id,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.created_at.desc())
    )
    return list(rows)


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, *, principal: Principal, actor: Actor, redis: Redis
) -> ApiKey:
    """Revoke a key: the caller's own, or any of the company's for its admins. Refused at once."""
    stmt = select(ApiKey).where(
        ApiKey.id == key_id, ApiKey.company_id == principal.company_id, ApiKey.revoked_at.is_(None)
    )
    if principal.role != Role.ADMIN:
        stmt = stmt.where(ApiKey.user_id == principal.user_id)
    key = await session.scalar(stmt.with_for_update())
    if key is None:
        raise ApiKeyNotFound()
    await revoke_keys(session, [key], actor=actor, redis=redis)
    return key


async def revoke_keys(session: AsyncSession, keys: Sequence[ApiKey], *, actor: Actor, redis: Redis) -> None:
    """Mark keys revoked, publish the revocations, and drop them from the gateway's cache on commit."""
    now = utcnow()
    hashes: list[str] = []
    for key in keys:
        key.revoked_at = now
        hashes.append(key.key_hash)
        revoked = ApiKeyRevokedV1(api_key_id=key.id, company_id=key.company_id, key_hash=key.key_hash)
        await outbox.add(session, revoked, company_id=key.company_id, actor=actor)
        await audit(session, action="api_key.revoked", actor=actor, company_id=key.company_id,
                    target_type="api_key", target_id=key.id)
    await session.flush()
    evict_after_commit(session, redis, hashes)


def evict_after_commit(session: AsyncSession, redis: Redis, key_hashes: list[str]) -> None:
    """Drop keys from the gateway's Redis cache once this transaction commits."""
    if not key_hashes:
        return

    async def evict() -> None:
        await redis.delete(*(API_KEY_CACHE_KEY.format(key_hash=h) for h in key_hashes))

    after_commit(session, evict)


async def resolve(session: AsyncSession, key_hash: str) -> ApiKeyRecord:
    """What the gateway needs to accept a key; 404 unless the key, its user and company are live."""
    row = (
        await session.execute(
            select(ApiKey, User.role)
            .join(User, User.id == ApiKey.user_id)
            .join(Company, Company.id == ApiKey.company_id)
            .where(
                ApiKey.key_hash == key_hash,
                ApiKey.revoked_at.is_(None),
                User.deleted_at.is_(None),
                User.status == "active",
                Company.deleted_at.is_(None),
                Company.is_active.is_(True),
            )
        )
    ).first()
    if row is None:
        raise ApiKeyNotFound()
    key, role = row
    return ApiKeyRecord(
        id=key.id,
        company_id=key.company_id,
        user_id=key.user_id,
        role=role,
        scopes=key.scopes,
        secret_hash=key.secret_hash,
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        rate_limit_per_hour=key.rate_limit_per_hour,
        rate_limit_per_day=key.rate_limit_per_day,
    )


async def key_for_principal(session: AsyncSession, principal: Principal) -> ApiKey | None:
    if principal.api_key_id is None:
        return None
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == principal.api_key_id, ApiKey.company_id == principal.company_id)
    )


async def record_usage(session: AsyncSession, usage: dict[uuid.UUID, tuple[int, dt.datetime]]) -> None:
    """Add request counts and move `last_used_at` forward, per key."""
    for key_id, (count, last_used) in usage.items():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(
                usage_count=ApiKey.usage_count + count,
                last_used_at=func.greatest(func.coalesce(ApiKey.last_used_at, last_used), last_used),
            )
        )
