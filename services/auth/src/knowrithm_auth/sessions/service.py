"""Sign-in sessions: opaque refresh tokens, stored hashed, rotated on every use.

Each sign-in starts a family. Using a refresh token rotates it (the old one is marked, a new
one joins the family). Presenting an already-rotated token means it leaked: the whole family
is revoked, and so are the access tokens carrying its id.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import RefreshToken, User
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import Unauthorized
from knowrithm_common.tokens import credential_hash

REFRESH_PREFIX = "rt_"


class InvalidRefreshToken(Unauthorized):
    code, message = "invalid_refresh_token", "Invalid or expired refresh token"


class RefreshTokenReused(Unauthorized):
    code, message = "refresh_token_reused", "Refresh token was already used; the session is revoked"

    def __init__(self, family_id: uuid.UUID, user_id: uuid.UUID) -> None:
        super().__init__()
        self.family_id, self.user_id = family_id, user_id


def _new_row(
    user: User, *, family_id: uuid.UUID, ttl: dt.timedelta, ip: str | None, user_agent: str | None
) -> tuple[str, RefreshToken]:
    raw = REFRESH_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = RefreshToken(
        id=uuid.uuid4(),
        family_id=family_id,
        user_id=user.id,
        token_hash=credential_hash(raw),
        created_at=now,
        expires_at=now + ttl,
        ip=ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    return raw, row


async def start_session(
    session: AsyncSession, user: User, *, ttl: dt.timedelta, ip: str | None, user_agent: str | None
) -> tuple[str, uuid.UUID]:
    """A new sign-in session for `user`: its first refresh token and the family id."""
    raw, row = _new_row(user, family_id=uuid.uuid4(), ttl=ttl, ip=ip, user_agent=user_agent)
    session.add(row)
    await session.flush()
    return raw, row.family_id


async def rotate(
    session: AsyncSession, raw: str, *, ttl: dt.timedelta, ip: str | None, user_agent: str | None
) -> tuple[User, str, uuid.UUID]:
    """Exchange a refresh token for the next one of its family; the user, token and family."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == credential_hash(raw)).with_for_update()
    )
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise InvalidRefreshToken()
    if row.rotated_at is not None:
        raise RefreshTokenReused(row.family_id, row.user_id)
    user = await session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        raise InvalidRefreshToken()
    row.rotated_at = utcnow()
    new_raw, new_row = _new_row(user, family_id=row.family_id, ttl=ttl, ip=ip, user_agent=user_agent)
    session.add(new_row)
    await session.flush()
    return user, new_raw, row.family_id


async def family_of(session: AsyncSession, raw: str) -> RefreshToken | None:
    """The stored row of a refresh token, if it exists."""
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == credential_hash(raw)))


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    """Revoke every token of one sign-in session."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Revoke every live sign-in session of a user; the families that were live."""
    rows = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(RefreshToken.family_id)
    )
    return sorted({family for (family,) in rows})
