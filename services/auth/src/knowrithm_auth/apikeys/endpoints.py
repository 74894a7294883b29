"""HTTP API of API keys, plus the internal route the gateway resolves keys with."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import UserOut
from knowrithm_auth.apikeys import service
from knowrithm_auth.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ResolveRequest
from knowrithm_auth.companies.schemas import CompanyOut
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.identity import Principal, gateway_only, users_only
from knowrithm_common.tenancy import Caller, actor_of
from knowrithm_common.tokens import API_KEY_RESOLVE_PATH, ApiKeyRecord

router = APIRouter(tags=["API Keys"])
internal_router = APIRouter(include_in_schema=False)


@router.post("/api/v1/auth/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, request: Request, session: Session, principal: Principal = Depends(users_only)
) -> ApiKeyCreated:
    """Create an API key for the signed-in user's company; the key and secret are shown only now."""
    key, api_key, api_secret = await service.create_key(
        session,
        data,
        principal=principal,
        actor=actor_of(request, principal),
        settings=request.app.state.settings,
    )
    return ApiKeyCreated(api_key=api_key, api_secret=api_secret, details=service.to_out(key))


@router.get("/api/v1/auth/api-keys", response_model=ApiKeyList)
async def list_api_keys(session: Session, principal: Principal = Depends(users_only)) -> ApiKeyList:
    """The signed-in user's API keys that are not revoked (never their secrets)."""
    return ApiKeyList(api_keys=[service.to_out(k) for k in await service.list_keys(session, principal)])


@router.delete("/api/v1/auth/api-keys/{api_key_id}")
async def revoke_api_key(
    api_key_id: uuid.UUID, request: Request, session: Session, principal: Principal = Depends(users_only)
) -> dict[str, Any]:
    """Revoke an API key; the gateway refuses it from the next request on."""
    key = await service.revoke_key(
        session,
        api_key_id,
        principal=principal,
        actor=actor_of(request, principal),
        redis=request.app.state.redis,
    )
    return {"success": True, "message": "API key revoked successfully", "api_key": service.to_out(key)}


@router.get("/api/v1/auth/validate")
async def validate_credentials(session: Session, subject: Caller) -> dict[str, Any]:
    """Check the credentials of this request and say whose they are."""
    principal = subject.principal
    repo = AccountsRepository(session)
    user = await repo.user_in_company(principal.user_id, principal.company_id) if principal.user_id else None
    company = await repo.company(principal.company_id) if principal.company_id else None
    key = await service.key_for_principal(session, principal)
    return {
        "valid": True,
        "credential": principal.kind,
        "api_key_info": service.to_out(key).model_dump(mode="json") if key else None,
        "user": UserOut.model_validate(user).model_dump(mode="json") if user else None,
        "company": CompanyOut.model_validate(company).model_dump(mode="json") if company else None,
    }


@internal_router.post(API_KEY_RESOLVE_PATH, response_model=ApiKeyRecord)
async def resolve_api_key(
    body: ResolveRequest, session: Session, _: Principal = Depends(gateway_only)
) -> ApiKeyRecord:
    """Gateway only: the record of a live key by the hash of the key, or 404."""
    return await service.resolve(session, body.key_hash)
