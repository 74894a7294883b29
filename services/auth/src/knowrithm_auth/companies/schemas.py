"""Request and response models of companies (field names from the Knowrithm API)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from knowrithm_auth.models import Address, Company
from knowrithm_common.pagination import Pagination


class CompanyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    email: EmailStr
    phone: str | None = Field(None, max_length=50)
    address_id: int | None = None
    logo: str | None = Field(None, max_length=500)


class CompanyReplace(CompanyCreate):
    """PUT: the editable fields, all replaced; a field left out is cleared (name and email are required)."""

    model_config = ConfigDict(extra="forbid")


class CompanyPatch(BaseModel):
    """PATCH: only the fields given change; `null` clears phone, address_id or logo."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=255)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=50)
    address_id: int | None = None
    logo: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _required_stay_set(self) -> CompanyPatch:
        for name in ("name", "email"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    street_address: str
    city_id: int
    state_id: int
    country_id: int
    postal_code: str | None
    lat: float | None
    lan: float | None
    is_primary: bool


class CompanyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    email: str
    phone: str | None
    address_id: int | None
    address: AddressOut | None = None
    logo: str | None
    is_active: bool
    is_verified: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None = None

    @classmethod
    def of(cls, company: Company, address: Address | None = None) -> CompanyOut:
        out = cls.model_validate(company)
        out.address = AddressOut.model_validate(address) if address is not None else None
        return out


class CompanyPagination(BaseModel):
    """The spec's pagination block of company lists: the shared `Pagination` under the spec's names."""

    current_page: int
    per_page: int
    total_items: int
    total_pages: int
    has_next: bool
    has_prev: bool
    next_page: int | None
    prev_page: int | None

    @classmethod
    def of(cls, page: Pagination) -> CompanyPagination:
        return cls(
            current_page=page.page, per_page=page.per_page, total_items=page.total, total_pages=page.pages,
            has_next=page.has_next, has_prev=page.has_prev,
            next_page=page.page + 1 if page.has_next else None,
            prev_page=page.page - 1 if page.has_prev else None,
        )


class CompanyListOut(BaseModel):
    companies: list[CompanyOut]
    pagination: CompanyPagination


class CompanyIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class CascadeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delete_related: bool = Field(
        True, description="false: delete the company alone, as DELETE /company/{id} does"
    )


class BulkItem(BaseModel):
    company_id: uuid.UUID
    result: str = Field(description="deleted | restored | already_deleted | not_deleted | not_found")


class BulkOut(BaseModel):
    success: bool = True
    message: str
    deleted: int | None = None
    restored: int | None = None
    results: list[BulkItem]


class LifecycleOut(BaseModel):
    success: bool = True
    message: str
    company: CompanyOut
    detail: dict[str, Any] | None = None


OTHER_SERVICES_NOTE = (
    "Counts cover what the auth service holds. Agents, documents, conversations, leads and "
    "analytics of this company live in other services; they stop serving them when they "
    "receive the company's deletion event (auth.company.deleted.v1) and serve them again "
    "after auth.company.restored.v1."
)


class RelatedCounts(BaseModel):
    users: int
    active_api_keys: int
    addresses: int


class RelatedDataOut(BaseModel):
    company_id: uuid.UUID
    name: str
    is_deleted: bool
    related_data: RelatedCounts
    note: str = OTHER_SERVICES_NOTE
