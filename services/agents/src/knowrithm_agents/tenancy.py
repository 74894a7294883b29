"""Who may act on which company's agents and settings: roles, API-key scopes, company scope.

A company's members read its agents and settings; its admins change them. Super admins have
no company: they name one (company_id) to create, and may read or change any. Another
company's ids answer 404, never 403.
"""

from __future__ import annotations

import uuid

from fastapi import Depends, Request

from knowrithm_agents.config import AgentsSettings
from knowrithm_common.crypto import SecretBox
from knowrithm_common.errors import BadRequest, Forbidden, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.identity import Principal, Role, require_roles, require_scopes

readers = [Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN, Role.USER)), Depends(require_scopes(["read"]))]


def writers(scope: str = "write") -> list:
    """Admins (API keys with `scope`) and super admins."""
    return [Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN)), Depends(require_scopes([scope]))]


class CompanyNotFound(NotFound):
    code, message = "company_not_found", "Company not found"


class CompanyRequired(BadRequest):
    code, message = "company_id_required", "A super admin must name the company (company_id)"


def scope_of(principal: Principal, requested: uuid.UUID | None = None) -> uuid.UUID | None:
    """The company the caller acts on; None for a super admin naming none (every company)."""
    if principal.is_super_admin:
        return requested
    if principal.company_id is None:
        raise Forbidden("This operation needs a company member")
    if requested is not None and requested != principal.company_id:
        raise CompanyNotFound()
    return principal.company_id


def target_company(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    """The company a new agent or settings row belongs to."""
    company_id = scope_of(principal, requested)
    if company_id is None:
        raise CompanyRequired()
    return company_id


def actor_of(request: Request, principal: Principal) -> Actor:
    """The event actor of this request."""
    return Actor(
        kind=principal.kind,
        id=principal.user_id,
        impersonator_id=principal.impersonator_id,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def secret_box(request: Request) -> SecretBox:
    settings: AgentsSettings = request.app.state.settings
    return settings.secret_box()


def app_settings(request: Request) -> AgentsSettings:
    return request.app.state.settings
