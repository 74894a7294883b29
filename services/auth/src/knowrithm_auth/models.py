"""Auth tables (schema `auth`): the whole identity schema in one place, so migrations see it all."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, TimestampMixin, make_base
from knowrithm_common.db.shared_tables import SharedTables
from knowrithm_common.db.softdelete import SoftDeleteMixin
from knowrithm_common.messaging.outbox import Outbox

SCHEMA = "auth"
Base = make_base(SCHEMA)
shared = SharedTables(Base.metadata)
outbox = Outbox(source="auth", table=shared.outbox)


class Company(IdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    # No foreign key: an address belongs to its company (addresses.company_id), and the
    # company only points at its primary one.
    address_id: Mapped[int | None] = mapped_column(Integer)
    logo: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_verified: Mapped[bool] = mapped_column(default=False, server_default="false")


class CompanyLogo(TimestampMixin, Base):  # type: ignore[misc, valid-type]
    """A logo image uploaded with the company (a logo given as a URL has no row here)."""

    __tablename__ = "company_logos"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(50))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))


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
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")


class RefreshToken(IdMixin, Base):  # type: ignore[misc, valid-type]
    """One refresh token of a sign-in session (a family); rotated on every use."""

    __tablename__ = "refresh_tokens"

    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class UserToken(IdMixin, Base):  # type: ignore[misc, valid-type]
    """A single-use token mailed to a user: e-mail verification or password reset."""

    __tablename__ = "user_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(30))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(IdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    """An API key: the key is looked up by its hash, the secret is only ever stored hashed."""

    __tablename__ = "api_keys"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    permissions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    rate_limit_per_hour: Mapped[int] = mapped_column(Integer)
    rate_limit_per_day: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    usage_count: Mapped[int] = mapped_column(BigInteger, default=0)


# Geographic reference data: shared by every company, integer ids as in the Knowrithm API.


class SerialIdMixin:
    """An integer id the database assigns (geo data and addresses, as the Knowrithm API numbers them)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)


class Country(SerialIdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "countries"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    iso_code: Mapped[str | None] = mapped_column(String(3), unique=True)


class State(SerialIdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "states"
    __table_args__ = (UniqueConstraint("country_id", "name", name="uq_states_country_id_name"),)

    country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class City(SerialIdMixin, TimestampMixin, Base):  # type: ignore[misc, valid-type]
    __tablename__ = "cities"
    __table_args__ = (UniqueConstraint("state_id", "name", name="uq_cities_state_id_name"),)

    state_id: Mapped[int] = mapped_column(ForeignKey("states.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    postal_code_prefix: Mapped[str | None] = mapped_column(String(10))


class Address(SerialIdMixin, TimestampMixin, SoftDeleteMixin, Base):  # type: ignore[misc, valid-type]
    """A company's address (tenant-owned)."""

    __tablename__ = "addresses"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    street_address: Mapped[str] = mapped_column(String(255))
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"))
    state_id: Mapped[int] = mapped_column(ForeignKey("states.id"))
    country_id: Mapped[int] = mapped_column(ForeignKey("countries.id"))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column(Float)
    lan: Mapped[float | None] = mapped_column(Float)
    is_primary: Mapped[bool] = mapped_column(default=False)


# The platform's system configuration (GET/PATCH /api/v1/config): not tenant-owned.


class SystemConfigEntry(TimestampMixin, Base):  # type: ignore[misc, valid-type]
    """One entry of the system configuration; sensitive values are stored encrypted only."""

    __tablename__ = "system_config"

    config_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The value as JSON, or NULL for a sensitive entry, whose value is `encrypted_value` (Fernet).
    config_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    encrypted_value: Mapped[str | None] = mapped_column(Text)
    config_type: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(500))
    is_sensitive: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column()


class SystemConfigRevision(Base):  # type: ignore[misc, valid-type]
    """One row whose counter every change bumps: changes queue on its lock, so revisions follow commits."""

    __tablename__ = "system_config_revision"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
