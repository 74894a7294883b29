"""Single-use mailed tokens (e-mail verification, password reset), stored only as hashes."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import User, UserToken
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import BadRequest
from knowrithm_common.tokens import credential_hash

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"


class InvalidMailToken(BadRequest):
    code, message = "invalid_token", "This link is invalid, expired or already used"


async def issue(session: AsyncSession, user: User, *, purpose: str, ttl: dt.timedelta) -> str:
    """A fresh token for `purpose`; earlier unused ones of the same purpose stop working."""
    now = utcnow()
    await session.execute(
        update(UserToken)
        .where(UserToken.user_id == user.id, UserToken.purpose == purpose, UserToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = secrets.token_urlsafe(32)
    session.add(
        UserToken(
            id=uuid.uuid4(),
            user_id=user.id,
            purpose=purpose,
            token_hash=credential_hash(raw),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return raw


async def consume(session: AsyncSession, raw: str, *, purpose: str) -> User:
    """The user a valid token was issued to; the token is used up."""
    row = await session.scalar(
        select(UserToken)
        .where(UserToken.token_hash == credential_hash(raw), UserToken.purpose == purpose)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidMailToken()
    user = await session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        raise InvalidMailToken()
    row.used_at = utcnow()
    await session.flush()
    return user
