"""Sign-in sessions as the API hands them out: an access token plus a rotating refresh token."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts.schemas import SessionTokens, UserOut
from knowrithm_auth.accounts.tokens import TokenIssuer
from knowrithm_auth.config import AuthSettings
from knowrithm_auth.models import User
from knowrithm_auth.sessions import service as sessions
from knowrithm_common.tenancy import client_ip
from knowrithm_common.tokens import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, AccessTokenClaims


def issuer(request: Request) -> TokenIssuer:
    return request.app.state.token_issuer


def settings_of(request: Request) -> AuthSettings:
    return request.app.state.settings


def refresh_ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(days=settings_of(request).refresh_token_ttl_days)


async def sign_in(session: AsyncSession, request: Request, user: User) -> SessionTokens:
    """Start a sign-in session for `user` and hand out its first token pair."""
    refresh, family = await sessions.start_session(
        session,
        user,
        ttl=refresh_ttl(request),
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return token_pair(request, user, refresh_token=refresh, session_id=family)


def token_pair(request: Request, user: User, *, refresh_token: str, session_id: uuid.UUID) -> SessionTokens:
    tokens = issuer(request)
    return SessionTokens(
        access_token=tokens.access_token(user, session_id=session_id),
        refresh_token=refresh_token,
        expires_in=tokens.ttl_seconds,
        user=UserOut.model_validate(user),
    )


def bearer(request: Request) -> str | None:
    """The token of the request's `Authorization: Bearer` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def presented_access_claims(request: Request) -> AccessTokenClaims | None:
    """The claims of the access token this request came with, verified with auth's own key.

    The gateway already verified it; auth reads `jti` and `sid` from it to revoke exactly
    this token and its sign-in session on logout.
    """
    token = bearer(request)
    if token is None:
        return None
    public_key = issuer(request).public_key
    try:
        raw = jwt.decode(
            token,
            public_key,
            algorithms=["EdDSA"],
            audience=ACCESS_TOKEN_AUDIENCE,
            issuer=ACCESS_TOKEN_ISSUER,
            leeway=5,
        )
        return AccessTokenClaims.model_validate(raw)
    except (jwt.PyJWTError, ValueError):
        return None
