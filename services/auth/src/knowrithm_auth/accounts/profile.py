"""HTTP API of the signed-in user's profile, users added by admins, and impersonation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import (
    ImpersonationOut,
    ProfileEnvelope,
    ProfileOut,
    ProfileUpdate,
    UserCreate,
    UserOut,
)
from knowrithm_auth.accounts.signin import issuer, settings_of
from knowrithm_auth.audit import audit
from knowrithm_auth.http import Session, actor_of
from knowrithm_auth.models import User
from knowrithm_common.errors import BadRequest, Forbidden, NotFound
from knowrithm_common.identity import Principal, Role, authenticated, require_roles, require_scopes
from knowrithm_common.openapi import errors

router = APIRouter()


class NoCompany(BadRequest):
    code, message = "no_company", "This account belongs to no company; act on a company's behalf instead"


async def _own_user(session: Session, principal: Principal) -> User:
    if principal.user_id is None:
        raise NotFound("No user behind these credentials")
    user = await AccountsRepository(session).user_in_company(principal.user_id, principal.company_id)
    if user is None:
        raise NotFound("User not found")
    return user


@router.post(
    "/api/v1/auth/user",
    status_code=201,
    response_model=UserOut,
    tags=["Authentication"],
    dependencies=[Depends(require_scopes(["admin"]))],
    responses=errors(400, 404, 409),
)
async def create_user(
    data: UserCreate,
    request: Request,
    session: Session,
    principal: Principal = Depends(require_roles(Role.ADMIN, Role.SUPER_ADMIN)),
) -> UserOut:
    """Add a user (role `user` or `admin`) to the caller's company; they get a verification mail."""
    if principal.company_id is None:
        raise NoCompany()
    user = await service.create_company_user(
        session,
        data,
        company_id=principal.company_id,
        actor=actor_of(request, principal),
        mail=request.app.state.mail,
    )
    return UserOut.model_validate(user)


@router.get("/api/v1/user/profile", response_model=ProfileEnvelope, tags=["Profile"], responses=errors(404))
async def get_profile(session: Session, principal: Principal = Depends(authenticated)) -> ProfileEnvelope:
    """The caller's own profile."""
    return ProfileEnvelope(user=ProfileOut.model_validate(await _own_user(session, principal)))


@router.put("/api/v1/user/profile", response_model=ProfileEnvelope, tags=["Profile"], responses=errors(404))
async def update_profile(
    data: ProfileUpdate, request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> ProfileEnvelope:
    """Update the given fields of the caller's own profile."""
    user = await _own_user(session, principal)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    await audit(
        session,
        action="user.profile_updated",
        actor=actor_of(request, principal),
        company_id=user.company_id,
        target_type="user",
        target_id=user.id,
        detail={"fields": sorted(changes)},
    )
    return ProfileEnvelope(user=ProfileOut.model_validate(user), message="Profile updated successfully")


@router.post(
    "/api/v1/user/{user_id}/impersonate",
    response_model=ImpersonationOut,
    tags=["Admin"],
)
async def impersonate(
    user_id: uuid.UUID,
    request: Request,
    session: Session,
    principal: Principal = Depends(require_roles(Role.SUPER_ADMIN)),
) -> ImpersonationOut:
    """Super admins only: a short access token acting as the user; audited, and never refreshable."""
    if principal.kind != "user" or principal.impersonator_id is not None:
        raise Forbidden("Impersonation needs a super admin's own access token")
    target = await AccountsRepository(session).user_by_id(user_id)
    if target is None:
        raise NotFound("User not found")
    if target.role == Role.SUPER_ADMIN:
        raise Forbidden("Super admins cannot be impersonated")
    ttl = settings_of(request).impersonation_ttl_seconds
    token = issuer(request).access_token(target, impersonator_id=principal.user_id, ttl_seconds=ttl)
    await audit(
        session,
        action="user.impersonated",
        actor=actor_of(request, principal),
        company_id=target.company_id,
        target_type="user",
        target_id=target.id,
        detail={"expires_in": ttl},
    )
    assert principal.user_id is not None  # a user principal always has one
    return ImpersonationOut(
        access_token=token,
        expires_in=ttl,
        impersonator_id=principal.user_id,
        user=UserOut.model_validate(target),
    )
