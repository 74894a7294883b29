"""HTTP API of the company lifecycle (super admins): delete, restore, bulk, related data, cascade."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from knowrithm_auth.companies import lifecycle, service
from knowrithm_auth.companies.repository import CompaniesRepository
from knowrithm_auth.companies.schemas import (
    COMPANY_PAGE,
    BulkItem,
    BulkOut,
    CascadeOptions,
    CompanyIds,
    CompanyListOut,
    CompanyPagination,
    LifecycleOut,
    RelatedCounts,
    RelatedDataOut,
)
from knowrithm_auth.http import Session, actor_of, parse_body
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import revocations
from knowrithm_auth.users.access import audited_refusals, check_super_admin, super_admin_caller
from knowrithm_common.identity import Principal, authenticated
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams

router = APIRouter(tags=["Companies"])


def _ctx(request: Request, session: Session, principal: Principal) -> lifecycle.Lifecycle:
    return lifecycle.Lifecycle(session=session, redis=request.app.state.redis,
                               actor=actor_of(request, principal))


def _body(model: type[CompanyIds] | type[CascadeOptions]) -> dict[str, object]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.get("/api/v1/company/deleted", response_model=CompanyListOut)
async def list_deleted(
    session: Session,
    params: PageParams = Depends(COMPANY_PAGE),
    principal: Principal = Depends(super_admin_caller),
) -> CompanyListOut:
    """Soft-deleted companies, most recently deleted first (super admin)."""
    companies, total = await service.list_companies(session, params, deleted=True)
    return CompanyListOut(companies=await service.present(session, companies),
                          pagination=CompanyPagination.of(params, total))


def _bulk_out(results: list[tuple[uuid.UUID, str]], verb: str) -> BulkOut:
    done = sum(result == verb for _, result in results)
    return BulkOut(
        message=f"{done} of {len(results)} companies {verb}",
        deleted=done if verb == "deleted" else None, restored=done if verb == "restored" else None,
        results=[BulkItem(company_id=cid, result=result) for cid, result in results],
    )


@router.delete("/api/v1/company/bulk-delete", response_model=BulkOut, response_model_exclude_none=True,
               openapi_extra=_body(CompanyIds), responses=errors(415, 422))
async def bulk_delete(
    request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> BulkOut:
    """Soft-delete several companies at once; each id says what happened (super admin)."""
    body = await parse_body(request, CompanyIds, allow_form=False)
    async with audited_refusals(request, principal, action="company.bulk_deleted", target_type="company"):
        check_super_admin(principal)
        results = await lifecycle.bulk_delete(_ctx(request, session, principal), body.company_ids)
    return _bulk_out(results, "deleted")


@router.patch("/api/v1/company/bulk-restore", response_model=BulkOut, response_model_exclude_none=True,
              openapi_extra=_body(CompanyIds), responses=errors(415, 422))
async def bulk_restore(
    request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> BulkOut:
    """Restore several soft-deleted companies at once; each id says what happened (super admin)."""
    body = await parse_body(request, CompanyIds, allow_form=False)
    async with audited_refusals(request, principal, action="company.bulk_restored", target_type="company"):
        check_super_admin(principal)
        results = await lifecycle.bulk_restore(_ctx(request, session, principal), body.company_ids)
    return _bulk_out(results, "restored")


@router.delete("/api/v1/company/{company_id:uuid}", response_model=LifecycleOut, responses=errors(409))
async def delete_company(
    company_id: uuid.UUID, request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> LifecycleOut:
    """Soft-delete a company: every credential of it is refused until it is restored (super admin)."""
    async with audited_refusals(request, principal, action="company.deleted", target_type="company",
                                target_id=company_id, company_id=company_id):
        check_super_admin(principal)
        company = await lifecycle.delete_company(_ctx(request, session, principal), company_id)
    return LifecycleOut(message="Company deleted", company=(await service.present(session, [company]))[0])


@router.patch("/api/v1/company/{company_id:uuid}/restore", response_model=LifecycleOut, responses=errors(409))
async def restore_company(
    company_id: uuid.UUID, request: Request, session: Session, principal: Principal = Depends(authenticated)
) -> LifecycleOut:
    """Restore a soft-deleted company, with the users and addresses deleted with it (super admin)."""
    async with audited_refusals(request, principal, action="company.restored", target_type="company",
                                target_id=company_id, company_id=company_id):
        check_super_admin(principal)
        company = await lifecycle.restore_company(_ctx(request, session, principal), company_id)
    return LifecycleOut(message="Company restored", company=(await service.present(session, [company]))[0])


@router.get("/api/v1/company/{company_id:uuid}/related-data", response_model=RelatedDataOut)
async def related_data(
    company_id: uuid.UUID, session: Session, principal: Principal = Depends(super_admin_caller)
) -> RelatedDataOut:
    """What deleting a company touches in auth: users, active API keys, addresses (super admin)."""
    repo = CompaniesRepository(session)
    company = await repo.company(company_id, with_deleted=True)
    if company is None:
        raise service.CompanyNotFound()
    counts = await repo.related_counts(company.id)
    return RelatedDataOut(company_id=company.id, name=company.name, is_deleted=company.deleted_at is not None,
                          related_data=RelatedCounts(**counts))


@router.delete("/api/v1/company/{company_id:uuid}/cascade-delete", response_model=LifecycleOut,
               openapi_extra=_body(CascadeOptions), responses=errors(415, 422))
async def cascade_delete(
    company_id: uuid.UUID, request: Request, session: Session,
    revoker: Revocations = Depends(revocations), principal: Principal = Depends(authenticated),
) -> LifecycleOut:
    """Soft-delete a company with its users and addresses, revoke its API keys, sign its users out."""
    options = CascadeOptions()
    if await request.body():
        options = await parse_body(request, CascadeOptions, allow_form=False)
    async with audited_refusals(request, principal, action="company.cascade_deleted", target_type="company",
                                target_id=company_id, company_id=company_id):
        check_super_admin(principal)
        ctx = _ctx(request, session, principal)
        if not options.delete_related:
            company = await lifecycle.delete_company(ctx, company_id)
            out = (await service.present(session, [company]))[0]
            return LifecycleOut(message="Company deleted", company=out)
        result = await lifecycle.cascade_delete(ctx, company_id, revoker=revoker)
    return LifecycleOut(
        message="Company and its related data deleted",
        company=(await service.present(session, [result.company]))[0],
        detail={**result.counts(),
                "other_services": "handled through auth.company.deleted.v1 (cascade=true)"},
    )
