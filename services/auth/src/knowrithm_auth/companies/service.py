"""Company use cases: sign-up, the caller's company, updates, catalogues. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit
from knowrithm_auth.companies.repository import CompaniesRepository
from knowrithm_auth.companies.schemas import CompanyCreate, CompanyListOut, CompanyOut, CompanyPagination
from knowrithm_auth.models import Company, outbox
from knowrithm_common.errors import CompanyNotFound, Conflict, ValidationFailed
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import CompanyCreatedV1, CompanyUpdatedV1
from knowrithm_common.pagination import PageParams
from knowrithm_common.tenancy import Subject


class CompanyEmailTaken(Conflict):
    code, message = "company_exists", "A company with this e-mail already exists"


async def create_company(session: AsyncSession, data: CompanyCreate, actor: Actor) -> Company:
    """Create a company and record `auth.company.created.v1` in the same transaction."""
    if await CompaniesRepository(session).email_taken(data.email):
        raise CompanyEmailTaken()
    company = Company(id=uuid.uuid4(), is_active=True, is_verified=False, **data.model_dump())
    session.add(company)
    await session.flush()
    created = CompanyCreatedV1(company_id=company.id, name=company.name, email=company.email)
    await outbox.add(session, created, company_id=company.id, actor=actor)
    await audit(session, action="company.created", actor=actor, company_id=company.id,
                target_type="company", target_id=company.id)
    return company


async def present(session: AsyncSession, companies: Sequence[Company]) -> list[CompanyOut]:
    """Companies as the API shows them, each with its address."""
    addresses = await CompaniesRepository(session).addresses_by_id(
        c.address_id for c in companies if c.address_id is not None
    )
    return [CompanyOut.of(c, addresses.get(c.address_id) if c.address_id else None) for c in companies]


async def company_of(session: AsyncSession, subject: Subject) -> Company:
    """The subject's company: a member's own; the one a super admin named (deleted ones too), else 404."""
    company = None
    if subject.company_id is not None:
        company = await CompaniesRepository(session).company(
            subject.company_id, with_deleted=subject.is_super_admin
        )
    if company is None:
        raise CompanyNotFound()
    return company


async def update_company(
    session: AsyncSession, *, subject: Subject, company_id: uuid.UUID, fields: dict[str, Any]
) -> Company:
    """Change a live company's editable fields (its admins or a super admin)."""
    if subject.company_id not in (None, company_id):
        raise CompanyNotFound()
    repo = CompaniesRepository(session)
    company = await repo.company(company_id)
    if company is None:
        raise CompanyNotFound()
    email = fields.get("email")
    if email is not None and email.lower() != company.email.lower() and await repo.email_taken(
        email, other_than=company.id
    ):
        raise CompanyEmailTaken()
    address_id = fields.get("address_id")
    if address_id is not None and await repo.address(company.id, address_id) is None:
        raise ValidationFailed(detail=[{"loc": ["address_id"], "type": "value_error",
                                        "msg": "No address with this id belongs to the company"}])
    changed = sorted(k for k, v in fields.items() if getattr(company, k) != v)
    for name in changed:
        setattr(company, name, fields[name])
    await session.flush()
    if changed:
        updated = CompanyUpdatedV1(company_id=company.id, name=company.name, email=company.email,
                                   is_active=company.is_active)
        await outbox.add(session, updated, company_id=company.id, actor=subject.actor)
    await audit(session, action="company.updated", actor=subject.actor, company_id=company.id,
                target_type="company", target_id=company.id, detail={"fields": changed})
    return company


async def catalogue(
    session: AsyncSession, params: PageParams, *, deleted: bool, search: str | None = None
) -> CompanyListOut:
    """One page of live companies, or of soft-deleted ones, in the spec's list shape."""
    companies, page = await CompaniesRepository(session).page(params, deleted=deleted, search=search)
    return CompanyListOut(companies=await present(session, companies), pagination=CompanyPagination.of(page))
