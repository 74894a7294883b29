"""Auth tables (schema `auth`)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base
from knowrithm_common.db.platform import PlatformTables
from knowrithm_common.db.softdelete import SoftDeleteMixin

SCHEMA = "auth"
Base = make_base(SCHEMA)
platform = PlatformTables(Base.metadata)


class Company(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    address_id: Mapped[int | None] = mapped_column(Integer)
    logo: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)


class User(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "users"

    # Super admins belong to no company.
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="user")
    status: Mapped[str] = mapped_column(String(30), default="active")
    email_verified: Mapped[bool] = mapped_column(default=False)
    failed_login_attempts: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
