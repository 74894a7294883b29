"""Request and response models of the accounts API (field names from the Knowrithm API)."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
import zoneinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator


class UserRegister(BaseModel):
    company_id: uuid.UUID
    email: EmailStr
    username: str = Field(min_length=3, max_length=50)
    password: str = Field(min_length=8, max_length=128)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)


class LoginRequest(BaseModel):
    # Any string: an address that is not a user's simply fails to log in (401), and the
    # bootstrap super admin may use a local-only domain such as `.local`.
    email: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=128)


class _Account(BaseModel):
    """The fields of an account every view of a user shows."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID | None
    email: str
    username: str
    first_name: str
    last_name: str
    role: str
    status: str
    email_verified: bool


class UserOut(_Account):
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class SessionTokens(BaseModel):
    """A sign-in: a short-lived access token and the refresh token that renews it."""

    access_token: str
    refresh_token: str | None = Field(
        None, description="opaque; rotated on every refresh; absent for impersonation tokens"
    )
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    user: UserOut


class RefreshRequest(BaseModel):
    refresh_token: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="or send it as `Authorization: Bearer <refresh_token>`",
    )


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(None, max_length=200)


class UserCreate(BaseModel):
    """A user created by a company admin inside the admin's company."""

    email: EmailStr
    username: str = Field(min_length=3, max_length=50)
    password: str = Field(min_length=8, max_length=128)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "user"] = "user"


class ProfileOut(_Account):
    """The spec's profile object."""

    language: str
    timezone: str
    preferences: dict[str, Any]
    last_login: dt.datetime | None = Field(validation_alias="last_login_at")
    login_attempts: int = Field(validation_alias="failed_login_attempts")
    created_at: dt.datetime


class ProfileEnvelope(BaseModel):
    user: ProfileOut
    message: str | None = None


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    language: str | None = Field(
        None, min_length=2, max_length=10, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$"
    )
    timezone: str | None = Field(None, min_length=1, max_length=64)
    preferences: dict[str, Any] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None and value not in _timezones():
            raise ValueError("unknown timezone; use an IANA name such as Europe/Berlin")
        return value


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


class ImpersonationOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    impersonator_id: uuid.UUID
    user: UserOut
