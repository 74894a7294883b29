"""Request and response models of user administration (field names from the Knowrithm API)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from knowrithm_auth.accounts.schemas import UserOut
from knowrithm_auth.models import User
from knowrithm_common.pagination import Pagination

UserStatus = Literal["active", "inactive", "suspended", "pending_verification"]
UserRole = Literal["super_admin", "admin", "user"]
SortField = Literal[
    "created_at", "updated_at", "last_login", "email", "username", "first_name", "last_name",
    "login_attempts",
]
SortOrder = Literal["asc", "desc"]

# `high_login_attempts=true` means this many failed attempts or more.
HIGH_LOGIN_ATTEMPTS = 3


class AdminUserOut(UserOut):
    """A user as administrators see it: the account fields plus the spec's security fields."""

    updated_at: dt.datetime
    last_login: dt.datetime | None = Field(description="same as last_login_at (the spec's name)")
    login_attempts: int = Field(description="failed login attempts since the last success")
    two_factor_enabled: bool = Field(False, description="always false: two-factor sign-in is not offered")
    deleted_at: dt.datetime | None = None

    @classmethod
    def of(cls, user: User) -> AdminUserOut:
        base = UserOut.model_validate(user).model_dump()
        return cls(
            **base, updated_at=user.updated_at, last_login=user.last_login_at,
            login_attempts=user.failed_login_attempts, deleted_at=user.deleted_at,
        )


class UserFilters(BaseModel):
    """The list filters of `GET /api/v1/admin/user`, already validated."""

    status: UserStatus | None = None
    role: UserRole | None = None
    email_verified: bool | None = None
    two_factor_enabled: bool | None = None
    never_logged_in: bool | None = None
    locked: bool | None = None
    include_deleted: bool = False
    only_deleted: bool = False
    search: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    last_login_after: dt.datetime | None = None
    last_login_before: dt.datetime | None = None
    # None: no filter; otherwise users with at least this many failed login attempts.
    min_login_attempts: int | None = None
    # The raw `high_login_attempts` value, echoed in `filters_applied`.
    high_login_attempts: str | None = None
    language: str | None = None
    timezone: str | None = None
    sort_by: SortField = "created_at"
    sort_order: SortOrder = "desc"

    def applied(self) -> dict[str, str | None]:
        """`filters_applied` of the response: every filter as the spec's nullable strings."""
        raw = self.model_dump(exclude={"min_login_attempts"})
        out: dict[str, str | None] = {}
        for name, value in raw.items():
            if value is None:
                out[name] = None
            elif isinstance(value, bool):
                out[name] = "true" if value else "false"
            elif isinstance(value, dt.datetime):
                out[name] = value.isoformat()
            else:
                out[name] = str(value)
        return out


class UserListOut(BaseModel):
    users: list[AdminUserOut]
    pagination: Pagination
    filters_applied: dict[str, str | None]


class UserEnvelope(BaseModel):
    """One user, in the spec's `{data, message}` wrapper."""

    success: bool = True
    message: str
    data: AdminUserOut
    timestamp: dt.datetime


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: UserStatus
    reason: str | None = Field(None, max_length=500, description="why; kept in the audit log")


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: UserRole


class Done(BaseModel):
    success: bool = True
    message: str
