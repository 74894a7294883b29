"""Ending sign-in sessions: logout, forced sign-out, and the revocation of a leaked session.

Refresh tokens are revoked in the database now; access tokens are refused by the gateway once
the change commits (Redis entries written after commit, `revocation.py`).
"""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit, audit_refusal
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.service import RefreshTokenReused, family_of, revoke_family, revoke_user_sessions
from knowrithm_common.db.session import Database, run_after_commit
from knowrithm_common.events import Actor
from knowrithm_common.identity import Principal
from knowrithm_common.tokens import AccessTokenClaims


def revocations(request: Request) -> Revocations:
    """FastAPI dependency: the Redis revocation writer built in the lifespan."""
    return request.app.state.revocations


async def force_sign_out(session: AsyncSession, revoker: Revocations, user_id: uuid.UUID) -> None:
    """Sign the user out everywhere: refresh families now, access tokens once this commits."""
    await revoke_user_sessions(session, user_id)
    revoker.sign_out_user(session, user_id)


async def log_out(
    session: AsyncSession, revoker: Revocations, principal: Principal, *, actor: Actor,
    claims: AccessTokenClaims | None, refresh_token: str | None,
) -> None:
    """End the caller's sign-in session: the access token presented (its `claims`), its session,
    and the session of `refresh_token` when it is the caller's; audited."""
    user_id = principal.user_id
    own_claims = claims if claims is not None and claims.sub == user_id else None
    family = own_claims.sid if own_claims is not None else None
    if refresh_token:
        row = await family_of(session, refresh_token)
        if row is not None and row.user_id == user_id:
            family = family or row.family_id
            await revoke_family(session, row.family_id)
    if family is not None:
        await revoke_family(session, family)
    if own_claims is not None:
        revoker.revoke_token(session, jti=own_claims.jti, session_id=family)
    await audit(session, action="user.logout", actor=actor, company_id=principal.company_id,
                target_type="session", target_id=family)


async def revoke_reused_family(
    db: Database, revoker: Revocations, reuse: RefreshTokenReused, *, actor: Actor
) -> None:
    """A rotated refresh token came back: it leaked. Revoke its whole family and its access tokens,
    in a transaction of their own, and audit the refused refresh."""
    async with db.session() as s:
        async with s.begin():
            await revoke_family(s, reuse.family_id)
            revoker.revoke_sessions(s, [reuse.family_id])
        await run_after_commit(s)
    await audit_refusal(
        db, action="session.refreshed", actor=actor, company_id=None, reason="refresh_token_reused",
        target_type="session", target_id=reuse.family_id, detail={"user_id": str(reuse.user_id)},
    )
