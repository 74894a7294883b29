"""HTTP API of mailed links: e-mail verification (`/send`, `/verify`) and password reset.

Requests naming an e-mail answer the same whether or not an account has it, so they cannot
be used to find out who has an account.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import UserOut
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import revocations
from knowrithm_auth.verification import service
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import BadRequest
from knowrithm_common.identity import Principal, current_principal
from knowrithm_common.tenancy import actor_of

router = APIRouter(tags=["Authentication"])

_SENT = "If an account with this e-mail needs it, a message is on its way"


class EmailRequest(BaseModel):
    email: str | None = Field(None, min_length=3, max_length=255, description="omit when signed in: your own")


class TokenRequest(BaseModel):
    token: str = Field(min_length=10, max_length=200)


class ForgotPasswordRequest(BaseModel):
    email: str = Field(min_length=3, max_length=255)


class ResetPasswordRequest(TokenRequest):
    new_password: str = Field(min_length=8, max_length=128)


@router.post("/api/v1/send")
async def send_verification_mail(
    request: Request, session: Session, body: EmailRequest | None = None,
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
    await service.resend_verification(
        session, request.app.state.mail, user, actor=actor_of(request, principal)
    )
    return {"success": True, "message": _SENT}


@router.post("/api/v1/verify")
async def verify_email(
    body: TokenRequest, request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> dict[str, Any]:
    """Confirm an e-mail address with the token from the verification mail."""
    user = await service.verify_email(session, body.token, actor=actor_of(request, principal))
    shown = UserOut.model_validate(user).model_dump(mode="json")
    return {"success": True, "message": "E-mail verified", "user": shown}


@router.post("/api/v1/auth/forgot-password")
async def forgot_password(
    body: ForgotPasswordRequest, request: Request, session: Session,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Mail a password-reset link to the account with this e-mail, if there is one."""
    await service.request_password_reset(session, request.app.state.mail, body.email,
                                         actor=actor_of(request, principal))
    return {"success": True, "message": _SENT}


@router.post("/api/v1/auth/reset-password")
async def reset_password(
    body: ResetPasswordRequest, request: Request, session: Session,
    principal: Principal = Depends(current_principal), revoker: Revocations = Depends(revocations),
) -> dict[str, Any]:
    """Set a new password with the token from the reset mail; every existing session ends."""
    await service.reset_password(session, revoker, body.token, body.new_password,
                                 actor=actor_of(request, principal))
    return {"success": True, "message": "Password changed; sign in with the new password"}
