"""Administrators' view of a user's sign-in sessions: list them, sign one out.

A session is a refresh-token family; it is live while its newest token is neither rotated,
revoked nor expired. Signing one out revokes the family now (its refresh fails) and, once the
change commits, every access token carrying its id (as logout does).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit
from knowrithm_auth.models import RefreshToken
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.schemas import SignInSessionOut
from knowrithm_auth.sessions.service import revoke_family
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import NotFound
from knowrithm_common.events import Actor


class SessionNotFound(NotFound):
    code, message = "session_not_found", "Sign-in session not found (or already ended)"


async def live_heads(session: AsyncSession, user_id: uuid.UUID) -> Sequence[RefreshToken]:
    """The newest token of each of the user's live sessions, most recently used first."""
    rows = await session.scalars(
        select(RefreshToken)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.rotated_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
        .order_by(RefreshToken.created_at.desc())
    )
    return rows.all()


async def list_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, current: uuid.UUID | None
) -> list[SignInSessionOut]:
    """The user's live sign-in sessions; `current` marks the caller's own session."""
    heads = await live_heads(session, user_id)
    started: dict[uuid.UUID, dt.datetime] = {}
    if heads:
        found = await session.execute(
            select(RefreshToken.family_id, func.min(RefreshToken.created_at))
            .where(RefreshToken.family_id.in_([h.family_id for h in heads]))
            .group_by(RefreshToken.family_id)
        )
        started = {family: first for family, first in found.all()}
    return [
        SignInSessionOut(
            id=head.family_id, created_at=started.get(head.family_id, head.created_at),
            last_used_at=head.created_at, expires_at=head.expires_at, ip=head.ip,
            user_agent=head.user_agent, current=head.family_id == current,
        )
        for head in heads
    ]


async def sign_out_session(
    session: AsyncSession, revoker: Revocations, *, user_id: uuid.UUID, company_id: uuid.UUID | None,
    session_id: uuid.UUID, actor: Actor,
) -> None:
    """End one live sign-in session of the user: its refresh tokens and its access tokens."""
    if not any(head.family_id == session_id for head in await live_heads(session, user_id)):
        raise SessionNotFound()
    await revoke_family(session, session_id)
    revoker.revoke_sessions(session, [session_id])
    await audit(session, action="session.revoked", actor=actor, company_id=company_id,
                target_type="session", target_id=session_id, detail={"user_id": str(user_id)})
