"""Analytics tables (schema `analytics`): projections built from events."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import make_base
from knowrithm_common.db.platform import PlatformTables

SCHEMA = "analytics"
Base = make_base(SCHEMA)
platform = PlatformTables(Base.metadata)


class CompanyRegistration(Base):  # type: ignore[misc, valid-type]
    """One row per company that signed up (from auth.company.created.v1).

    `deleted_at` follows auth.company.deleted.v1 / auth.company.restored.v1: a deleted
    company, and its users, leave the counts until it is restored. `lifecycle_at` is the time
    of the last of those events applied, so a late redelivery of an older one changes nothing.
    """

    __tablename__ = "company_registrations"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lifecycle_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UserRegistration(Base):  # type: ignore[misc, valid-type]
    """One row per registered user (from auth.user.registered.v1)."""

    __tablename__ = "user_registrations"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    role: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
