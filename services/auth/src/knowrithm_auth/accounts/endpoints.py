"""HTTP API of sign-in: registration, login, refresh, logout, current user, JWKS, bootstrap."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.profile import router as profile_router
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import (
    LoginRequest,
    LogoutRequest,
    ProfileOut,
    RefreshRequest,
    SessionTokens,
    UserRegister,
)
from knowrithm_auth.accounts.signin import (
    bearer,
    issuer,
    presented_access_claims,
    refresh_ttl,
    settings_of,
    sign_in,
    token_pair,
)
from knowrithm_auth.companies.schemas import CompanyOut
from knowrithm_auth.sessions import service as sessions
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import log_out, revocations, revoke_reused_family
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import NotFound
from knowrithm_common.identity import Principal, current_principal, users_only
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import Caller, actor_of
from knowrithm_common.tokens import JWKS_PATH

router = APIRouter(tags=["Authentication"])
router.include_router(profile_router)


@router.post("/api/v1/auth/register", status_code=201, response_model=SessionTokens,
             responses=errors(403, 404, 409))
async def register(
    data: UserRegister, request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> SessionTokens:
    """Register the first admin of a newly signed-up company (public); signs in, mails a verification link."""
    user = await service.register_user(
        session, data, actor_of(request, principal), mail=request.app.state.mail
    )
    return await sign_in(session, request, user)


@router.post("/api/v1/auth/login", response_model=SessionTokens, responses=errors(403, 423))
async def login(
    data: LoginRequest, request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> SessionTokens:
    """Exchange e-mail and password for an access and a refresh token; repeated failures lock (423)."""
    user = await service.authenticate(
        session,
        db=request.app.state.db,
        email=data.email,
        password=data.password,
        actor=actor_of(request, principal),
        settings=settings_of(request),
    )
    return await sign_in(session, request, user)


@router.post("/api/v1/auth/refresh", response_model=SessionTokens, responses=errors(403))
async def refresh(
    request: Request,
    session: Session,
    body: RefreshRequest | None = None,
    principal: Principal = Depends(current_principal),
) -> SessionTokens:
    """Rotate a refresh token (body `refresh_token` or `Authorization: Bearer`); reuse revokes the session."""
    raw = (body.refresh_token if body else None) or bearer(request)
    if not raw:
        raise sessions.InvalidRefreshToken("Send the refresh token in the body or as a Bearer token")
    actor = actor_of(request, principal)
    try:
        user, new_raw, family = await sessions.rotate(
            session, raw, ttl=refresh_ttl(request), ip=actor.ip, user_agent=request.headers.get("user-agent")
        )
    except sessions.RefreshTokenReused as reuse:
        await session.rollback()  # release the row lock before revoking in a transaction of our own
        await revoke_reused_family(request.app.state.db, request.app.state.revocations, reuse,
                                   actor=actor_of(request, Principal.anonymous()))
        raise
    await service.renew_session(session, user, family=family, actor=actor)
    return token_pair(request, user, refresh_token=new_raw, session_id=family)


@router.post("/api/v1/auth/logout")
async def logout(
    request: Request,
    session: Session,
    body: LogoutRequest | None = None,
    principal: Principal = Depends(users_only),
    revoker: Revocations = Depends(revocations),
) -> dict[str, Any]:
    """Sign out: this access token and its whole sign-in session stop working at once."""
    await log_out(session, revoker, principal, actor=actor_of(request, principal),
                  claims=presented_access_claims(request), refresh_token=body.refresh_token if body else None)
    return {"success": True, "message": "Logged out"}


@router.get("/api/v1/auth/user/me", responses=errors(404))
async def me(session: Session, subject: Caller) -> dict[str, Any]:
    """The signed-in user (or the API key's owner) and their company."""
    user = await service.own_user(session, subject.principal)
    company = await AccountsRepository(session).company(user.company_id) if user.company_id else None
    return {
        "user": ProfileOut.model_validate(user).model_dump(mode="json"),
        "company": CompanyOut.model_validate(company).model_dump(mode="json") if company else None,
    }


@router.get("/api/v1/auth/super-admin", tags=["Admin"], responses=errors(404))
async def bootstrap_super_admin(request: Request, session: Session) -> JSONResponse:
    """Create the platform super admin from SUPER_ADMIN_* if it does not exist yet (idempotent)."""
    settings = settings_of(request)
    if not settings.super_admin_email:
        raise NotFound("No SUPER_ADMIN_EMAIL is configured")
    created = await service.ensure_super_admin(session, settings)
    message = "Super admin created" if created else "Super admin already exists"
    return JSONResponse(
        {"success": True, "created": created, "message": message}, status_code=201 if created else 200
    )


@router.get(JWKS_PATH, include_in_schema=False)
async def jwks(request: Request) -> dict[str, Any]:
    """Public keys that verify access tokens (read by the gateway)."""
    return issuer(request).jwks()
