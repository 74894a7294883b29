"""HTTP API of user administration: catalogues, a user, status, role, forced password reset.

User ids are matched as UUIDs in the path (`{user_id:uuid}`), so `/api/v1/user/profile` and
other fixed paths under `/api/v1/user/` never fall into these routes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, params

from knowrithm_auth.audit import refusals_audited
from knowrithm_auth.models import User
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import revocations
from knowrithm_auth.users import service
from knowrithm_auth.users.schemas import (
    HIGH_LOGIN_ATTEMPTS,
    AdminUserOut,
    Done,
    RoleChange,
    SortField,
    SortOrder,
    StatusChange,
    UserEnvelope,
    UserFilters,
    UserListOut,
    UserRole,
    UserStatus,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import BadRequest, ValidationFailed
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, pages
from knowrithm_common.tenancy import CompanyAdmin, CompanyAdminRead, CompanyRead, SuperAdmin

router = APIRouter(tags=["Admin"])

_TRUE, _FALSE = ("true", "yes", "on"), ("false", "no", "off")


def _min_login_attempts(raw: str | None) -> int | None:
    """`high_login_attempts`: true (>= 3 failed attempts), false (no filter) or a threshold >= 1."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return HIGH_LOGIN_ATTEMPTS
    if value in _FALSE:
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValidationFailed(detail=[{
        "loc": ["query", "high_login_attempts"], "type": "value_error",
        "msg": "Expected true, false or a whole number of at least 1",
    }])


def user_filters(
    status: UserStatus | None = Query(None, description="Account status"),
    role: UserRole | None = Query(None, description="Role"),
    email_verified: bool | None = Query(None, description="E-mail verified (true/false)"),
    two_factor_enabled: bool | None = Query(
        None, description="Two-factor sign-in is not offered: no account has it, so `true` matches nobody"
    ),
    never_logged_in: bool | None = Query(None, description="Never signed in (true/false)"),
    locked: bool | None = Query(None, description="Locked after failed logins, lock still running"),
    include_deleted: bool = Query(False, description="Include soft-deleted users"),
    only_deleted: bool = Query(False, description="Only soft-deleted users"),
    search: str | None = Query(
        None, max_length=255, description="E-mail, username, first, last or full name (any case)"
    ),
    created_after: dt.datetime | None = Query(None, description="ISO date-time"),
    created_before: dt.datetime | None = Query(None, description="ISO date-time"),
    last_login_after: dt.datetime | None = Query(None, description="ISO date-time"),
    last_login_before: dt.datetime | None = Query(None, description="ISO date-time"),
    high_login_attempts: str | None = Query(
        None, description=f"true: {HIGH_LOGIN_ATTEMPTS}+ failed login attempts; or a threshold (>= 1)"
    ),
    language: str | None = Query(None, max_length=10, description="e.g. en, es, fr"),
    timezone: str | None = Query(None, max_length=64, description="e.g. UTC, America/New_York"),
    sort_by: SortField = Query("created_at", description="Field to sort by"),
    sort_order: SortOrder = Query("desc", description="asc or desc"),
) -> UserFilters:
    """FastAPI dependency: the validated filters of a user catalogue."""
    for after, before, name in ((created_after, created_before, "created"),
                                (last_login_after, last_login_before, "last_login")):
        if after is not None and before is not None and after > before:
            raise BadRequest(f"{name}_after is later than {name}_before")
    return UserFilters(
        status=status, role=role, email_verified=email_verified, two_factor_enabled=two_factor_enabled,
        never_logged_in=never_logged_in, locked=locked, include_deleted=include_deleted,
        only_deleted=only_deleted, search=search or None, created_after=created_after,
        created_before=created_before, last_login_after=last_login_after,
        last_login_before=last_login_before, min_login_attempts=_min_login_attempts(high_login_attempts),
        high_login_attempts=high_login_attempts, language=language, timezone=timezone,
        sort_by=sort_by, sort_order=sort_order,
    )


# Fifty users per page, as the user catalogue has always listed them.
UserPage = Annotated[PageParams, pages(default=50, items="Users")]
Filters = Annotated[UserFilters, Depends(user_filters)]


def _admin(
    request: Request, session: Session, subject: CompanyAdmin, revoker: Revocations = Depends(revocations)
) -> service.Admin:
    """The admin changing a user (API keys need `admin`), with the transaction and the sign-out tools."""
    state = request.app.state
    return service.Admin(session=session, subject=subject, revoker=revoker, redis=state.redis,
                         mail=state.mail)


ActingAdmin = Annotated[service.Admin, Depends(_admin)]


async def _catalogue(
    session: Session, company_id: uuid.UUID | None, filters: UserFilters, params: PageParams
) -> UserListOut:
    users, pagination = await service.list_users(
        session, company_id=company_id, filters=filters, params=params
    )
    return UserListOut(users=[AdminUserOut.of(u) for u in users], pagination=pagination,
                       filters_applied=filters.applied())


def _envelope(user: User, message: str) -> UserEnvelope:
    return UserEnvelope(message=message, data=AdminUserOut.of(user), timestamp=dt.datetime.now(dt.UTC))


@router.get("/api/v1/admin/user", response_model=UserListOut, responses=errors(400, 404))
async def list_users(
    session: Session, filters: Filters, page: UserPage, subject: CompanyAdminRead
) -> UserListOut:
    """Users of the caller's company (super admins: every user, or one company's)."""
    return await _catalogue(session, subject.company_id, filters, page)


@router.get("/api/v1/super-admin/company/{company_id}/user", response_model=UserListOut,
            responses=errors(400))
async def list_company_users(
    company_id: uuid.UUID, session: Session, filters: Filters, page: UserPage, _: SuperAdmin
) -> UserListOut:
    """Users of one company (super admin)."""
    return await _catalogue(session, company_id, filters, page)


@router.get("/api/v1/admin/user/{user_id:uuid}", response_model=UserEnvelope)
async def admin_get_user(user_id: uuid.UUID, session: Session, subject: CompanyAdminRead) -> UserEnvelope:
    """A user of the admin's company (super admins: any user)."""
    return _envelope(await service.find_user(session, subject, user_id), "User retrieved successfully")


@router.get("/api/v1/user/{user_id:uuid}", response_model=UserEnvelope)
async def get_user(user_id: uuid.UUID, session: Session, subject: CompanyRead) -> UserEnvelope:
    """A user of the caller's own company."""
    return _envelope(await service.find_user(session, subject, user_id), "User retrieved successfully")


def _audited(action: str) -> list[params.Depends]:
    """The route's refusals audited under `action`, with the user of the path as target."""
    return [refusals_audited(action, target_type="user", target="user_id")]


@router.patch("/api/v1/user/{user_id:uuid}/status", response_model=UserEnvelope, responses=errors(409),
              dependencies=_audited("user.status_changed"))
async def change_status(user_id: uuid.UUID, body: StatusChange, admin: ActingAdmin) -> UserEnvelope:
    """Set a user's status (admin: own company; super admin: anyone); leaving `active` signs them out."""
    return _envelope(await service.change_status(admin, user_id, body), "User status updated")


@router.patch("/api/v1/user/{user_id:uuid}/role", response_model=UserEnvelope, responses=errors(409),
              dependencies=_audited("user.role_changed"))
async def change_role(user_id: uuid.UUID, body: RoleChange, admin: ActingAdmin) -> UserEnvelope:
    """Set a user's role (admin: own company, never super_admin); the user is signed out."""
    return _envelope(await service.change_role(admin, user_id, body), "User role updated")


@router.post("/api/v1/user/{user_id:uuid}/force-password-reset", response_model=Done,
             dependencies=_audited("user.password_reset_forced"))
async def force_password_reset(user_id: uuid.UUID, admin: ActingAdmin) -> Done:
    """Invalidate a user's password, sign them out and e-mail them a reset link."""
    await service.force_password_reset(admin, user_id)
    return Done(message="The user must reset their password; a reset link was e-mailed to them")
