"""Company use cases: sign-up, the caller's company, updates, catalogues. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit
from knowrithm_auth.companies.repository import CompaniesRepository
from knowrithm_auth.companies.schemas import CompanyCreate, CompanyOut
from knowrithm_auth.models import Company, shared
from knowrithm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.auth import CompanyCreatedV1, CompanyUpdatedV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.messaging.outbox import record_event
from knowrithm_common.pagination import PageParams

SOURCE = "auth"


class CompanyEmailTaken(Conflict):
    code, message = "company_exists", "A company with this e-mail already exists"


class CompanyNotFound(NotFound):
    code, message = "company_not_found", "Company not found"


class NotCompanyAdmin(Forbidden):
    code, message = "forbidden", "Only the company's admins or a super admin can change it"


async def company_email_taken(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(Company.id).where(func.lower(Company.email) == email.lower()))
    return found is not None


async def create_company(session: AsyncSession, data: CompanyCreate, actor: Actor) -> Company:
    """Create a company and record `auth.company.created.v1` in the same transaction."""
    if await company_email_taken(session, data.email):
        raise CompanyEmailTaken()
    company = Company(id=uuid.uuid4(), is_active=True, is_verified=False, **data.model_dump())
    session.add(company)
    await session.flush()
    event = CompanyCreatedV1(company_id=company.id, name=company.name, email=company.email)
    await record_event(
        session, shared.outbox, new_event(event, source=SOURCE, company_id=company.id, actor=actor)
    )
    await audit(session, action="company.created", actor=actor, company_id=company.id,
                target_type="company", target_id=company.id)
    return company


async def present(session: AsyncSession, companies: Sequence[Company]) -> list[CompanyOut]:
    """Companies as the API shows them, each with its address."""
    addresses = await CompaniesRepository(session).addresses_by_id(
        c.address_id for c in companies if c.address_id is not None
    )
    return [CompanyOut.of(c, addresses.get(c.address_id) if c.address_id else None) for c in companies]


async def callers_company(
    session: AsyncSession, principal: Principal, company_id: uuid.UUID | None
) -> Company:
    """The caller's own company; a super admin names one with `company_id` (deleted ones too)."""
    repo = CompaniesRepository(session)
    if principal.is_super_admin:
        company = await repo.company(company_id, with_deleted=True) if company_id else None
    elif principal.company_id is None or company_id not in (None, principal.company_id):
        company = None
    else:
        company = await repo.company(principal.company_id)
    if company is None:
        raise CompanyNotFound()
    return company


async def update_company(
    session: AsyncSession, *, principal: Principal, actor: Actor, company_id: uuid.UUID,
    fields: dict[str, Any],
) -> Company:
    """Change a live company's editable fields (its admins or a super admin)."""
    if not principal.is_super_admin and principal.company_id != company_id:
        raise CompanyNotFound()
    if not principal.is_super_admin and principal.role != Role.ADMIN:
        raise NotCompanyAdmin()
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
        event = CompanyUpdatedV1(company_id=company.id, name=company.name, email=company.email,
                                 is_active=company.is_active)
        await record_event(
            session, shared.outbox, new_event(event, source=SOURCE, company_id=company.id, actor=actor)
        )
    await audit(session, action="company.updated", actor=actor, company_id=company.id,
                target_type="company", target_id=company.id, detail={"fields": changed})
    return company


async def list_companies(
    session: AsyncSession, params: PageParams, *, deleted: bool
) -> tuple[Sequence[Company], int]:
    """One page of live companies, or of soft-deleted ones, and the total."""
    return await CompaniesRepository(session).page(params, deleted=deleted)
