"""Forced sign-out: every refresh token of the user revoked, every access token refused."""

from __future__ import annotations

import uuid

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.service import revoke_user_sessions


def revocations(request: Request) -> Revocations:
    """FastAPI dependency: the Redis revocation writer built in the lifespan."""
    return request.app.state.revocations


async def force_sign_out(session: AsyncSession, revoker: Revocations, user_id: uuid.UUID) -> None:
    """Sign the user out everywhere: refresh families now, access tokens once this commits."""
    await revoke_user_sessions(session, user_id)
    revoker.sign_out_user(session, user_id)
