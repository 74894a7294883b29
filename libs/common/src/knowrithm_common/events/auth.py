"""Events published by the auth service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from pydantic import Field

from knowrithm_common.events.envelope import EventData


class CompanyCreatedV1(EventData):
    """A company signed up."""

    event_type: ClassVar[str] = "auth.company.created.v1"

    company_id: uuid.UUID
    name: str
    email: str


class UserRegisteredV1(EventData):
    """A user account was created inside a company."""

    event_type: ClassVar[str] = "auth.user.registered.v1"

    user_id: uuid.UUID
    company_id: uuid.UUID | None
    email: str
    username: str
    role: str


class UserUpdatedV1(EventData):
    """A user's account changed: status, role, profile or deletion (`change` says which)."""

    event_type: ClassVar[str] = "auth.user.updated.v1"

    user_id: uuid.UUID
    company_id: uuid.UUID | None
    change: str = Field(description="status | role | profile | email_verified | deleted | restored")
    status: str
    role: str


class CompanyUpdatedV1(EventData):
    """A company's details changed."""

    event_type: ClassVar[str] = "auth.company.updated.v1"

    company_id: uuid.UUID
    name: str
    email: str
    is_active: bool


class CompanyDeletedV1(EventData):
    """A company was (soft) deleted: every service stops serving its data, keeping it restorable.

    `cascade` is true when its related data was deleted with it (cascade-delete).
    """

    event_type: ClassVar[str] = "auth.company.deleted.v1"

    company_id: uuid.UUID
    cascade: bool = False


class CompanyRestoredV1(EventData):
    """A soft-deleted company was restored."""

    event_type: ClassVar[str] = "auth.company.restored.v1"

    company_id: uuid.UUID


class ApiKeyCreatedV1(EventData):
    """An API key was created (the secret never travels)."""

    event_type: ClassVar[str] = "auth.api_key.created.v1"

    api_key_id: uuid.UUID
    company_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    scopes: list[str]
    # Added later (optional, so older events still read): what key analytics show and compare.
    key_prefix: str | None = None
    rate_limit_per_hour: int | None = None
    rate_limit_per_day: int | None = None
    expires_at: dt.datetime | None = None


class ApiKeyRevokedV1(EventData):
    """An API key was revoked; the gateway drops it from its cache (`key_hash` names the entry)."""

    event_type: ClassVar[str] = "auth.api_key.revoked.v1"

    api_key_id: uuid.UUID
    company_id: uuid.UUID
    key_hash: str


class AuditRecordedV1(EventData):
    """An auth or admin action, successful or not: who (the envelope's actor), what, on what."""

    event_type: ClassVar[str] = "auth.audit.recorded.v1"

    action: str = Field(description="e.g. user.login, user.impersonated, company.deleted")
    outcome: str = Field(description="success | failure")
    target_type: str | None = None
    target_id: str | None = None
    reason: str | None = Field(None, description="why it failed, for failures")
    detail: dict[str, Any] = Field(default_factory=dict)


class SystemConfigChangedV1(EventData):
    """A super admin created, changed or removed an entry of the platform's system configuration.

    Platform-wide (the envelope's company_id is null). A sensitive entry's value never travels
    (`config_value` is null); `config_type` and `is_sensitive` are null for a removed entry.
    """

    event_type: ClassVar[str] = "auth.system_config.changed.v1"

    config_key: str
    change: str = Field(description="created | updated | removed")
    config_type: str | None = None
    is_sensitive: bool | None = None
    config_value: Any = Field(None, description="the new value; null when sensitive or removed")
