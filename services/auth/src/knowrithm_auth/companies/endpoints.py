"""HTTP API of companies: sign-up (public), the caller's company, updates, the super-admin catalogue.

Company ids are matched as UUIDs in the path (`{company_id:uuid}`), so fixed paths such as
`/company/deleted` or `/company/bulk-delete` never fall into the `{company_id}` routes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from knowrithm_auth.accounts.signin import settings_of
from knowrithm_auth.audit import refusals_audited
from knowrithm_auth.bodies import M, parse_body_with_file
from knowrithm_auth.companies import logos, service
from knowrithm_auth.companies.lifecycle_endpoints import router as lifecycle_router
from knowrithm_auth.companies.schemas import (
    CompanyCreate,
    CompanyListOut,
    CompanyOut,
    CompanyPatch,
    CompanyReplace,
)
from knowrithm_auth.sysconfig.service import SignupClosed, signup_open
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, current_principal
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import PageParams, pages
from knowrithm_common.tenancy import ADMINS, CompanyRead, Subject, SuperAdmin, actor_of, subject_dependency

router = APIRouter(tags=["Companies"])

# The spec lists ten companies per page.
CompanyPage = Annotated[PageParams, pages(default=10, items="Companies")]
# Narrows a company list to names or e-mails containing the text (any case).
CompanySearch = Annotated[str | None, Query(max_length=255, description="part of the name or e-mail")]
# The company's admins (API keys with `admin`) or a super admin; the path names the company.
CompanyAdminOfPath = Annotated[Subject, Depends(subject_dependency(ADMINS, "admin", company_query=False))]


def _body_or_form(model: type[Any]) -> dict[str, Any]:
    """JSON, or multipart with the same fields where `logo` may be an image file."""
    form = model.model_json_schema()
    form["properties"] = {**form["properties"], "logo": {
        "type": "string", "format": "binary", "description": "PNG, JPEG, GIF or WebP image, or a URL"}}
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()},
                                        "multipart/form-data": {"schema": form}}}}


async def _body_and_logo(request: Request, model: type[M]) -> tuple[M, logos.Logo | None]:
    data, upload = await parse_body_with_file(request, model, file_field=logos.LOGO_FIELD)
    if upload is None:
        return data, None
    return data, await logos.read_logo(upload, max_bytes=settings_of(request).max_logo_bytes)


# What a body parsed by hand (JSON or multipart with a logo file) can be refused with.
_BODY_REFUSALS = errors(
    422,
    (413, "The body is larger than the gateway's limit, or the logo file than AUTH_MAX_LOGO_BYTES"),
    (415, "Neither JSON nor a form, or the logo file is not a PNG, JPEG, GIF or WebP image"),
)


@router.post("/api/v1/company", status_code=201, response_model=CompanyOut,
             openapi_extra=_body_or_form(CompanyCreate), responses={**errors(403, 409), **_BODY_REFUSALS})
async def create_company(
    request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> CompanyOut:
    """Sign up a company (public unless sign-up is closed: then super admins only); JSON or form
    data, the logo as a URL or an image file."""
    data, logo = await _body_and_logo(request, CompanyCreate)
    if not principal.is_super_admin and not await signup_open(session):
        raise SignupClosed()
    company = await service.create_company(session, data, actor_of(request, principal))
    if logo is not None:
        await logos.store(session, company.id, logo)
        company.logo = logo.url(settings_of(request).base_url, company.id)
        await session.flush()
    return (await service.present(session, [company]))[0]


_IMAGES: dict[str, Any] = {"content": {t: {} for t in ("image/png", "image/jpeg", "image/gif", "image/webp")}}


@router.get("/api/v1/company/{company_id:uuid}/logo", response_class=Response,
            responses={200: _IMAGES, **errors((404, "No uploaded logo, or no such live company"))})
async def get_company_logo(company_id: uuid.UUID, session: Session) -> Response:
    """A company's uploaded logo image (public, like the widget that shows it)."""
    logo = await logos.live_logo(session, company_id)
    return Response(logo.content, media_type=logo.content_type, headers={
        "Cache-Control": "public, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
    })


@router.get("/api/v1/company", response_model=CompanyOut, responses=errors(404))
async def get_company(session: Session, subject: CompanyRead) -> CompanyOut:
    """The caller's company (super admins name one with `company_id`)."""
    return (await service.present(session, [await service.company_of(session, subject)]))[0]


@router.get("/api/v1/super-admin/company", response_model=CompanyListOut)
async def list_companies(
    session: Session, page: CompanyPage, _: SuperAdmin, search: CompanySearch = None
) -> CompanyListOut:
    """Every live company, newest first, optionally those matching `search` (super admin)."""
    return await service.catalogue(session, page, deleted=False, search=(search or "").strip() or None)


@router.get("/api/v1/company/deleted", response_model=CompanyListOut)
async def list_deleted(
    session: Session, page: CompanyPage, _: SuperAdmin, search: CompanySearch = None
) -> CompanyListOut:
    """Soft-deleted companies, most recently deleted first, optionally matching `search` (super admin)."""
    return await service.catalogue(session, page, deleted=True, search=(search or "").strip() or None)


async def _update(request: Request, session: Session, subject: Subject, company_id: uuid.UUID,
                  *, partial: bool) -> CompanyOut:
    model: type[CompanyPatch | CompanyReplace] = CompanyPatch if partial else CompanyReplace
    data, logo = await _body_and_logo(request, model)
    fields = data.model_dump(exclude_unset=partial)
    if logo is not None:
        fields["logo"] = logo.url(settings_of(request).base_url, company_id)
    company = await service.update_company(session, subject=subject, company_id=company_id, fields=fields)
    if logo is not None:
        await logos.store(session, company.id, logo)
    elif "logo" in fields:
        await logos.forget_unless_used(session, company)
    return (await service.present(session, [company]))[0]


_UPDATED = refusals_audited("company.updated", target_type="company", target="company_id")


@router.put("/api/v1/company/{company_id:uuid}", response_model=CompanyOut, dependencies=[_UPDATED],
            openapi_extra=_body_or_form(CompanyReplace), responses={**errors(409), **_BODY_REFUSALS})
async def replace_company(
    company_id: uuid.UUID, request: Request, session: Session, subject: CompanyAdminOfPath
) -> CompanyOut:
    """Replace a company's editable fields; omitted phone, address_id and logo are cleared."""
    return await _update(request, session, subject, company_id, partial=False)


@router.patch("/api/v1/company/{company_id:uuid}", response_model=CompanyOut, dependencies=[_UPDATED],
              openapi_extra=_body_or_form(CompanyPatch), responses={**errors(409), **_BODY_REFUSALS})
async def patch_company(
    company_id: uuid.UUID, request: Request, session: Session, subject: CompanyAdminOfPath
) -> CompanyOut:
    """Change only the given fields of a company (its admins or a super admin)."""
    return await _update(request, session, subject, company_id, partial=True)


router.include_router(lifecycle_router)
