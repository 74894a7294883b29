"""Events published by the auth service."""

from __future__ import annotations

import uuid
from typing import ClassVar

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
