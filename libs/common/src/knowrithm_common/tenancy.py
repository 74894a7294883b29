"""Who may act on which company's data: roles, API-key scopes, company scope.

A company's members (and read-scoped API keys) read; admins (keys with the method's scope)
change. Super admins may act on any company. Another company's ids answer 404, never 403.
Used by ingestion and conversations; agents keeps its own (it lets super admins name a company).
"""

from __future__ import annotations

import uuid

from fastapi import Depends, Request

from knowrithm_common.errors import Forbidden, NotFound
from knowrithm_common.events import Actor
from knowrithm_common.identity import Principal, Role, require_roles, require_scopes

readers = [Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN, Role.USER)), Depends(require_scopes(["read"]))]


def writers(scope: str = "write") -> list:
    """Admins (API keys with `scope`) and super admins."""
    return [Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN)), Depends(require_scopes([scope]))]


class CompanyNotFound(NotFound):
    code, message = "company_not_found", "Company not found"


def scope_of(principal: Principal) -> uuid.UUID | None:
    """The company the caller acts on; None for a super admin (every company)."""
    if principal.is_super_admin:
        return None
    if principal.company_id is None:
        raise Forbidden("This operation needs a company member")
    return principal.company_id


def actor_of(request: Request, principal: Principal) -> Actor:
    """The event actor of this request (the client IP the gateway decided)."""
    return Actor(
        kind=principal.kind,
        id=principal.user_id,
        impersonator_id=principal.impersonator_id,
        ip=request.headers.get("x-knowrithm-client-ip") or (request.client.host if request.client else None),
        user_agent=request.headers.get("user-agent"),
    )
