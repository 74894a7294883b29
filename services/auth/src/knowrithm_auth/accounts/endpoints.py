"""HTTP API of accounts: company sign-up, registration, login, current user, JWKS."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.accounts.schemas import (
    CompanyCreate,
    CompanyOut,
    LoginRequest,
    TokenOut,
    UserOut,
    UserRegister,
)
from knowrithm_auth.accounts.tokens import TokenIssuer
from knowrithm_common.db import get_session
from knowrithm_common.errors import InvalidJSON, NotFound, UnsupportedMediaType, ValidationFailed
from knowrithm_common.events import Actor
from knowrithm_common.identity import Principal, authenticated, current_principal
from knowrithm_common.tokens import JWKS_PATH

router = APIRouter(tags=["Authentication"])
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def actor_of(request: Request, principal: Principal) -> Actor:
    """The audit actor of a request: who, from which address, with which client."""
    forwarded = request.headers.get("x-forwarded-for", "")
    ip = forwarded.split(",")[0].strip() or (request.client.host if request.client else None)
    return Actor(
        kind=principal.kind,
        id=principal.user_id,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
    )


def issuer(request: Request) -> TokenIssuer:
    return request.app.state.token_issuer  # type: ignore[no-any-return]


async def parse_body(request: Request, model: type[BaseModel]) -> Any:
    """Validate a JSON or form body against `model` (the spec accepts both for companies)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        if any(not isinstance(v, str) for v in form.values()):
            raise UnsupportedMediaType("File uploads are not accepted here; give the logo as a URL")
        raw: Any = {k: v for k, v in form.items() if v != ""}
    elif content_type in ("application/json", ""):
        try:
            raw = json.loads(await request.body() or b"null")
        except json.JSONDecodeError as exc:
            raise InvalidJSON(detail=str(exc)) from exc
    else:
        raise UnsupportedMediaType(f"Unsupported content type {content_type!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed(detail=detail) from exc


@router.post(
    "/api/v1/company",
    status_code=201,
    response_model=CompanyOut,
    tags=["Companies"],
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": CompanyCreate.model_json_schema()}}}
    },
)
async def create_company(
    request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> CompanyOut:
    """Sign up a company (public); JSON or form data."""
    data = await parse_body(request, CompanyCreate)
    company = await service.create_company(session, data, actor_of(request, principal))
    return CompanyOut.model_validate(company)


@router.post("/api/v1/auth/register", status_code=201, response_model=TokenOut)
async def register(
    data: UserRegister,
    request: Request,
    session: Session,
    principal: Principal = Depends(current_principal),
) -> TokenOut:
    """Register a company's admin user (public) and sign them in."""
    user = await service.register_user(session, data, actor_of(request, principal))
    tokens = issuer(request)
    return TokenOut(
        access_token=tokens.access_token(user),
        expires_in=tokens.ttl_seconds,
        user=UserOut.model_validate(user),
    )


@router.post("/api/v1/auth/login", response_model=TokenOut)
async def login(data: LoginRequest, request: Request, session: Session) -> TokenOut:
    """Exchange e-mail and password for an access token."""
    user = await service.authenticate(session, data.email, data.password)
    tokens = issuer(request)
    return TokenOut(
        access_token=tokens.access_token(user),
        expires_in=tokens.ttl_seconds,
        user=UserOut.model_validate(user),
    )


@router.get("/api/v1/auth/user/me", response_model=UserOut)
async def me(session: Session, principal: Principal = Depends(authenticated)) -> UserOut:
    """The signed-in user."""
    if principal.user_id is None:
        raise NotFound("No user behind these credentials")
    user = await AccountsRepository(session).user_in_company(principal.user_id, principal.company_id)
    if user is None:
        raise NotFound("User not found")
    return UserOut.model_validate(user)


@router.get(JWKS_PATH, include_in_schema=False)
async def jwks(request: Request) -> dict[str, Any]:
    """Public keys that verify access tokens (read by the gateway)."""
    return issuer(request).jwks()
