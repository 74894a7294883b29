"""HTTP API of the company lifecycle (super admins): delete, restore, bulk, related data, cascade.

Every change is audited, a refused attempt too (`refusals_audited`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, params

from knowrithm_auth.audit import refusals_audited
from knowrithm_auth.bodies import parse_body
from knowrithm_auth.companies import lifecycle, service
from knowrithm_auth.companies.repository import CompaniesRepository
from knowrithm_auth.companies.schemas import (
    BulkItem,
    BulkOut,
    CascadeOptions,
    CompanyIds,
    LifecycleOut,
    RelatedCounts,
    RelatedDataOut,
)
from knowrithm_auth.models import Company
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import revocations
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import CompanyNotFound
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import Subject, SuperAdmin

router = APIRouter(tags=["Companies"])


def _ctx(request: Request, session: Session, subject: Subject) -> lifecycle.Lifecycle:
    return lifecycle.Lifecycle(session=session, redis=request.app.state.redis, actor=subject.actor)


def _body(model: type[CompanyIds] | type[CascadeOptions]) -> dict[str, object]:
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


async def _out(session: Session, message: str, company: Company, **detail: object) -> LifecycleOut:
    return LifecycleOut(message=message, company=(await service.present(session, [company]))[0],
                        detail=detail or None)


def _audited(action: str) -> list[params.Depends]:
    """The route's refusals audited under `action`, with the company of the path as target."""
    return [refusals_audited(action, target_type="company", target="company_id")]


async def _bulk(request: Request, session: Session, subject: Subject, *, verb: str) -> BulkOut:
    """Delete or restore several companies at once; each id says what happened."""
    body = await parse_body(request, CompanyIds, allow_form=False)
    change = lifecycle.bulk_delete if verb == "deleted" else lifecycle.bulk_restore
    results = await change(_ctx(request, session, subject), body.company_ids)
    done = sum(result == verb for _, result in results)
    return BulkOut(
        message=f"{done} of {len(results)} companies {verb}",
        deleted=done if verb == "deleted" else None, restored=done if verb == "restored" else None,
        results=[BulkItem(company_id=cid, result=result) for cid, result in results],
    )


@router.delete("/api/v1/company/bulk-delete", response_model=BulkOut, response_model_exclude_none=True,
               dependencies=_audited("company.bulk_deleted"), openapi_extra=_body(CompanyIds),
               responses=errors(415, 422))
async def bulk_delete(request: Request, session: Session, subject: SuperAdmin) -> BulkOut:
    """Soft-delete several companies at once; each id says what happened (super admin)."""
    return await _bulk(request, session, subject, verb="deleted")


@router.patch("/api/v1/company/bulk-restore", response_model=BulkOut, response_model_exclude_none=True,
              dependencies=_audited("company.bulk_restored"), openapi_extra=_body(CompanyIds),
              responses=errors(415, 422))
async def bulk_restore(request: Request, session: Session, subject: SuperAdmin) -> BulkOut:
    """Restore several soft-deleted companies at once; each id says what happened (super admin)."""
    return await _bulk(request, session, subject, verb="restored")


@router.delete("/api/v1/company/{company_id:uuid}", response_model=LifecycleOut,
               dependencies=_audited("company.deleted"), responses=errors(409))
async def delete_company(
    company_id: uuid.UUID, request: Request, session: Session, subject: SuperAdmin
) -> LifecycleOut:
    """Soft-delete a company: every credential of it is refused until it is restored (super admin)."""
    return await _out(session, "Company deleted",
                      await lifecycle.delete_company(_ctx(request, session, subject), company_id))


@router.patch("/api/v1/company/{company_id:uuid}/restore", response_model=LifecycleOut,
              dependencies=_audited("company.restored"), responses=errors(409))
async def restore_company(
    company_id: uuid.UUID, request: Request, session: Session, subject: SuperAdmin
) -> LifecycleOut:
    """Restore a soft-deleted company, with the users and addresses deleted with it (super admin)."""
    return await _out(session, "Company restored",
                      await lifecycle.restore_company(_ctx(request, session, subject), company_id))


@router.get("/api/v1/company/{company_id:uuid}/related-data", response_model=RelatedDataOut)
async def related_data(company_id: uuid.UUID, session: Session, _: SuperAdmin) -> RelatedDataOut:
    """What deleting a company touches in auth: users, active API keys, addresses (super admin)."""
    repo = CompaniesRepository(session)
    company = await repo.company(company_id, with_deleted=True)
    if company is None:
        raise CompanyNotFound()
    counts = await repo.related_counts(company.id)
    return RelatedDataOut(company_id=company.id, name=company.name, is_deleted=company.deleted_at is not None,
                          related_data=RelatedCounts(**counts))


@router.delete("/api/v1/company/{company_id:uuid}/cascade-delete", response_model=LifecycleOut,
               dependencies=_audited("company.cascade_deleted"), openapi_extra=_body(CascadeOptions),
               responses=errors(415, 422))
async def cascade_delete(
    company_id: uuid.UUID, request: Request, session: Session, subject: SuperAdmin,
    revoker: Revocations = Depends(revocations),
) -> LifecycleOut:
    """Soft-delete a company with its users and addresses, revoke its API keys, sign its users out."""
    options = CascadeOptions()
    if await request.body():
        options = await parse_body(request, CascadeOptions, allow_form=False)
    ctx = _ctx(request, session, subject)
    if not options.delete_related:
        return await _out(session, "Company deleted", await lifecycle.delete_company(ctx, company_id))
    result = await lifecycle.cascade_delete(ctx, company_id, revoker=revoker)
    return await _out(session, "Company and its related data deleted", result.company, **result.counts(),
                      other_services="handled through auth.company.deleted.v1 (cascade=true)")
