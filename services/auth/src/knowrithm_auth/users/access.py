"""Who may administer users and companies, and the audit trail of refused attempts.

Mutations check the caller inside `audited_refusals`, so a refused attempt (wrong role, a
user of another company, the last-admin rule) lands in the audit log with its reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Request

from knowrithm_auth.audit import audit_refusal
from knowrithm_auth.http import actor_of
from knowrithm_common.errors import Forbidden, KnowrithmError
from knowrithm_common.identity import Principal, Role, authenticated, scopes_grant

ADMIN_ROLES = (Role.SUPER_ADMIN, Role.ADMIN)


def check_scope(principal: Principal, scope: str) -> None:
    """An API key must hold `scope`; users are judged by their role alone."""
    if principal.kind == "api_key" and not scopes_grant(principal.scopes, scope):
        raise Forbidden(f"API key lacks scope: {scope}")


def check_admin(principal: Principal, scope: str) -> None:
    """The caller is a company admin or a super admin (an API key also needs `scope`)."""
    if principal.kind not in ("user", "api_key") or principal.role not in ADMIN_ROLES:
        raise Forbidden("Admin or super admin role required")
    if principal.role == Role.ADMIN and principal.company_id is None:
        raise Forbidden("Admin role required")
    check_scope(principal, scope)


def check_super_admin(principal: Principal) -> None:
    """The caller is a signed-in super admin."""
    if principal.kind != "user" or not principal.is_super_admin:
        raise Forbidden("Super admin role required")


def admin_caller(scope: str = "read") -> Callable[[Request], Principal]:
    """Dependency factory: an admin or super admin (API keys need `scope`)."""

    def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        check_admin(principal, scope)
        return principal

    return dependency


def member_caller(request: Request) -> Principal:
    """Dependency: any signed-in user or API key with the `read` scope."""
    principal = authenticated(request)
    if principal.kind not in ("user", "api_key"):
        raise Forbidden("A user or API key is required")
    check_scope(principal, "read")
    return principal


def super_admin_caller(request: Request) -> Principal:
    """Dependency: a signed-in super admin."""
    principal = authenticated(request)
    check_super_admin(principal)
    return principal


@asynccontextmanager
async def audited_refusals(
    request: Request, principal: Principal, *, action: str, target_type: str, target_id: object = None,
    company_id: uuid.UUID | None = None,
) -> AsyncIterator[None]:
    """Record `action` as refused (in its own transaction) when the block raises an expected error."""
    try:
        yield
    except KnowrithmError as exc:
        await audit_refusal(
            request.app.state.db, action=action, actor=actor_of(request, principal),
            company_id=company_id or principal.company_id, reason=exc.code,
            target_type=target_type, target_id=target_id,
        )
        raise
