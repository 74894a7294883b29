"""Request and response models of the accounts API (field names from the Knowrithm API)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class CompanyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    email: EmailStr
    phone: str | None = Field(None, max_length=50)
    address_id: int | None = None
    logo: str | None = Field(None, max_length=500)


class CompanyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    email: str
    phone: str | None
    address_id: int | None
    logo: str | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


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


class UserOut(BaseModel):
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
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    user: UserOut
