"""HTTP API of a user's sign-in sessions for the company's administrators."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from knowrithm_auth.accounts.signin import presented_access_claims
from knowrithm_auth.sessions import admin
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.schemas import SignedOut, SignInSessionList
from knowrithm_auth.sessions.signout import revocations
from knowrithm_auth.users.service import find_user
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import CompanyAdmin, CompanyAdminRead

router = APIRouter(tags=["Admin"])


@router.get(
    "/api/v1/admin/user/{user_id:uuid}/sessions", response_model=SignInSessionList, responses=errors(404)
)
async def list_user_sessions(
    user_id: uuid.UUID, request: Request, session: Session, subject: CompanyAdminRead
) -> SignInSessionList:
    """A user's live sign-in sessions (created, last used, IP, user agent, the caller's own marked)."""
    user = await find_user(session, subject, user_id)
    claims = presented_access_claims(request)
    current = claims.sid if claims is not None and claims.sub == subject.principal.user_id else None
    return SignInSessionList(
        user_id=user.id, sessions=await admin.list_sessions(session, user.id, current=current)
    )


@router.delete(
    "/api/v1/admin/user/{user_id:uuid}/sessions/{session_id:uuid}",
    response_model=SignedOut,
    responses=errors(404),
)
async def sign_out_user_session(
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    session: Session,
    subject: CompanyAdmin,
    revoker: Revocations = Depends(revocations),
) -> SignedOut:
    """Sign one of a user's sessions out: its refresh fails and its access tokens are refused."""
    user = await find_user(session, subject, user_id)
    await admin.sign_out_session(
        session,
        revoker,
        user_id=user.id,
        company_id=user.company_id,
        session_id=session_id,
        actor=subject.actor,
    )
    return SignedOut()
