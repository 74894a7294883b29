"""HTTP API of companies: sign-up (public), the caller's company, updates, the super-admin catalogue.

Company ids are matched as UUIDs in the path (`{company_id:uuid}`), so fixed paths such as
`/company/deleted` or `/company/bulk-delete` never fall into the `{company_id}` routes.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from knowrithm_auth.companies import service
from knowrithm_auth.companies.lifecycle_endpoints import router as lifecycle_router
from knowrithm_auth.companies.schemas import (
    COMPANY_PAGE,
    CompanyCreate,
    CompanyListOut,
    CompanyOut,
    CompanyPagination,
    CompanyPatch,
    CompanyReplace,
)
from knowrithm_auth.http import Session, actor_of, parse_body
from knowrithm_auth.sysconfig.service import SignupClosed, signup_open
from knowrithm_auth.users.access import audited_refusals, check_scope, member_caller, super_admin_caller
from knowrithm_common.errors import Forbidden
from knowrithm_common.identity import Principal, authenticated, current_principal
from knowrithm_common.pagination import PageParams

router = APIRouter(tags=["Companies"])


def _body(model: type[Any]) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.post("/api/v1/company", status_code=201, response_model=CompanyOut,
             openapi_extra=_body(CompanyCreate))
async def create_company(
    request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> CompanyOut:
    """Sign up a company (public unless sign-up is closed: then super admins only); JSON or form data."""
    data = await parse_body(request, CompanyCreate)
    if not principal.is_super_admin and not await signup_open(session):
        raise SignupClosed()
    company = await service.create_company(session, data, actor_of(request, principal))
    return (await service.present(session, [company]))[0]


@router.get("/api/v1/company", response_model=CompanyOut)
async def get_company(
    session: Session,
    company_id: uuid.UUID | None = Query(None, description="Super admins: the company to read"),
    principal: Principal = Depends(member_caller),
) -> CompanyOut:
    """The caller's company (super admins name one with `company_id`)."""
    company = await service.callers_company(session, principal, company_id)
    return (await service.present(session, [company]))[0]


@router.get("/api/v1/super-admin/company", response_model=CompanyListOut)
async def list_companies(
    session: Session,
    params: PageParams = Depends(COMPANY_PAGE),
    principal: Principal = Depends(super_admin_caller),
) -> CompanyListOut:
    """Every live company, newest first (super admin)."""
    companies, total = await service.list_companies(session, params, deleted=False)
    return CompanyListOut(companies=await service.present(session, companies),
                          pagination=CompanyPagination.of(params, total))


async def _update(request: Request, session: Session, principal: Principal, company_id: uuid.UUID,
                  *, partial: bool) -> CompanyOut:
    async with audited_refusals(request, principal, action="company.updated", target_type="company",
                                target_id=company_id, company_id=company_id):
        if principal.kind not in ("user", "api_key"):
            raise Forbidden("A user or API key is required")
        check_scope(principal, "admin")
        if partial:
            fields = (await parse_body(request, CompanyPatch)).model_dump(exclude_unset=True)
        else:
            fields = (await parse_body(request, CompanyReplace)).model_dump()
        company = await service.update_company(
            session, principal=principal, actor=actor_of(request, principal), company_id=company_id,
            fields=fields,
        )
    return (await service.present(session, [company]))[0]


@router.put("/api/v1/company/{company_id:uuid}", response_model=CompanyOut,
            openapi_extra=_body(CompanyReplace))
async def replace_company(
    company_id: uuid.UUID, request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> CompanyOut:
    """Replace a company's editable fields; omitted phone, address_id and logo are cleared."""
    return await _update(request, session, principal, company_id, partial=False)


@router.patch("/api/v1/company/{company_id:uuid}", response_model=CompanyOut,
              openapi_extra=_body(CompanyPatch))
async def patch_company(
    company_id: uuid.UUID, request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> CompanyOut:
    """Change only the given fields of a company (its admins or a super admin)."""
    return await _update(request, session, principal, company_id, partial=True)


router.include_router(lifecycle_router)
