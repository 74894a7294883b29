"""HTTP API of mailed links: e-mail verification (`/send`, `/verify`) and password reset.

Requests naming an e-mail answer the same whether or not an account has it, so they cannot
be used to find out who has an account.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from knowrithm_auth.accounts.passwords import hash_password
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import UserOut
from knowrithm_auth.audit import audit
from knowrithm_auth.http import Session, actor_of
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import force_sign_out, revocations
from knowrithm_auth.verification import tokens
from knowrithm_auth.verification.service import send_password_reset, send_verification
from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import BadRequest
from knowrithm_common.identity import Principal, current_principal

router = APIRouter(tags=["Authentication"])

_SENT = "If an account with this e-mail needs it, a message is on its way"


class EmailRequest(BaseModel):
    email: str | None = Field(None, min_length=3, max_length=255, description="omit when signed in: your own")


class TokenRequest(BaseModel):
    token: str = Field(min_length=10, max_length=200)


class ForgotPasswordRequest(BaseModel):
    email: str = Field(min_length=3, max_length=255)


class ResetPasswordRequest(BaseModel):
    token: str = Field(min_length=10, max_length=200)
    new_password: str = Field(min_length=8, max_length=128)


@router.post("/api/v1/send")
async def send_verification_mail(
    request: Request,
    session: Session,
    body: EmailRequest | None = None,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Mail an e-mail verification link (to `email`, or to the signed-in user)."""
    repo = AccountsRepository(session)
    if body is not None and body.email:
        user = await repo.user_by_email(body.email)
    elif principal.user_id is not None:
        user = await repo.user_in_company(principal.user_id, principal.company_id)
    else:
        raise BadRequest("Give the `email` to verify, or call this signed in")
    if user is not None and not user.email_verified:
        await send_verification(session, request.app.state.mail, user)
        await audit(
            session,
            action="user.verification_sent",
            actor=actor_of(request, principal),
            company_id=user.company_id,
            target_type="user",
            target_id=user.id,
        )
    return {"success": True, "message": _SENT}


@router.post("/api/v1/verify")
async def verify_email(
    body: TokenRequest, request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> dict[str, Any]:
    """Confirm an e-mail address with the token from the verification mail."""
    user = await tokens.consume(session, body.token, purpose=tokens.VERIFY_EMAIL)
    user.email_verified = True
    if user.status == "pending_verification":
        user.status = "active"
    await session.flush()
    await audit(
        session,
        action="user.email_verified",
        actor=actor_of(request, principal),
        company_id=user.company_id,
        target_type="user",
        target_id=user.id,
    )
    return {
        "success": True,
        "message": "E-mail verified",
        "user": UserOut.model_validate(user).model_dump(mode="json"),
    }


@router.post("/api/v1/auth/forgot-password")
async def forgot_password(
    body: ForgotPasswordRequest,
    request: Request,
    session: Session,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Mail a password-reset link to the account with this e-mail, if there is one."""
    user = await AccountsRepository(session).user_by_email(body.email)
    if user is not None:
        await send_password_reset(session, request.app.state.mail, user)
        await audit(
            session,
            action="user.password_reset_requested",
            actor=actor_of(request, principal),
            company_id=user.company_id,
            target_type="user",
            target_id=user.id,
        )
    return {"success": True, "message": _SENT}


@router.post("/api/v1/auth/reset-password")
async def reset_password(
    body: ResetPasswordRequest,
    request: Request,
    session: Session,
    principal: Principal = Depends(current_principal),
    revoker: Revocations = Depends(revocations),
) -> dict[str, Any]:
    """Set a new password with the token from the reset mail; every existing session ends."""
    user = await tokens.consume(session, body.token, purpose=tokens.RESET_PASSWORD)
    user.password_hash = await hash_password(body.new_password)
    user.password_changed_at = utcnow()
    user.failed_login_attempts = 0
    user.locked_until = None
    # Whoever could read the mail controls the address.
    user.email_verified = True
    await force_sign_out(session, revoker, user.id)
    await audit(
        session,
        action="user.password_reset",
        actor=actor_of(request, principal),
        company_id=user.company_id,
        target_type="user",
        target_id=user.id,
    )
    return {"success": True, "message": "Password changed; sign in with the new password"}
