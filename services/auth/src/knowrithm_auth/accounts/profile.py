"""HTTP API of the signed-in user's profile, users added by admins, and impersonation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.schemas import (
    ImpersonationOut,
    ProfileEnvelope,
    ProfileOut,
    ProfileUpdate,
    UserCreate,
    UserOut,
)
from knowrithm_auth.accounts.signin import issuer, settings_of
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import Caller, CompanyAdmin, SuperAdmin

router = APIRouter()


@router.post("/api/v1/auth/user", status_code=201, response_model=UserOut, tags=["Authentication"],
             responses=errors(400, 404, 409))
async def create_user(data: UserCreate, request: Request, session: Session, subject: CompanyAdmin) -> UserOut:
    """Add a user (role `user` or `admin`) to the caller's company (a super admin names it with
    `company_id`); they get a verification mail."""
    user = await service.create_company_user(
        session, data, company_id=subject.company, actor=subject.actor, mail=request.app.state.mail
    )
    return UserOut.model_validate(user)


@router.get("/api/v1/user/profile", response_model=ProfileEnvelope, tags=["Profile"], responses=errors(404))
async def get_profile(session: Session, subject: Caller) -> ProfileEnvelope:
    """The caller's own profile."""
    return ProfileEnvelope(user=ProfileOut.model_validate(await service.own_user(session, subject.principal)))


@router.put("/api/v1/user/profile", response_model=ProfileEnvelope, tags=["Profile"], responses=errors(404))
async def update_profile(data: ProfileUpdate, session: Session, subject: Caller) -> ProfileEnvelope:
    """Update the given fields of the caller's own profile."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    user = await service.update_profile(session, subject, changes)
    return ProfileEnvelope(user=ProfileOut.model_validate(user), message="Profile updated successfully")


@router.post("/api/v1/user/{user_id}/impersonate", response_model=ImpersonationOut, tags=["Admin"])
async def impersonate(
    user_id: uuid.UUID, request: Request, session: Session, subject: SuperAdmin
) -> ImpersonationOut:
    """Super admins only: a short access token acting as the user; audited, and never refreshable."""
    ttl = settings_of(request).impersonation_ttl_seconds
    target, token = await service.impersonate(
        session, subject, user_id, issuer=issuer(request), ttl_seconds=ttl
    )
    assert subject.principal.user_id is not None  # a user principal always has one
    return ImpersonationOut(
        access_token=token,
        expires_in=ttl,
        impersonator_id=subject.principal.user_id,
        user=UserOut.model_validate(target),
    )
