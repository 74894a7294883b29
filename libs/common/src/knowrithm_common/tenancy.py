"""Who may do what, for which company: one typed dependency per intent.

A route says what it needs in one annotation, which carries both the permission and the
subject it resolves to (in the way Polar's `AuthSubject[...]` does):

    async def list_agents(subject: CompanyRead, ...):      # members; API keys with `read`
    async def delete_agent(subject: CompanyDelete, ...):   # admins; API keys with `delete`
    async def list_companies(subject: SuperAdmin, ...):    # super admins only

The `Subject` holds the caller (`principal`), the company the request acts on (`company_id`)
and the audit actor of the request (`actor`, with the client's address the gateway decided).

- A company's members act on their own company. A super admin acts on every company
  (`company_id` None), or on one named with `?company_id=`. A member naming another company
  gets 404 `company_not_found` (never 403: another company's ids look like ids that do not exist).
- An operation that needs one company (creating something) asks `subject.company` (or
  `subject.named(body.company_id)` when the body names it): a super admin who named none gets
  400 `company_id_required`. A caller that is neither a member of a company nor a super admin
  gets 403.
- Permissions: members (`user`, `admin`, `super_admin`) read, admins change. An API key passes
  by its scopes: the scope of the intent (`read`, `write`, `update`, `delete`, `admin`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from knowrithm_common.errors import BadRequest, CompanyNotFound, Forbidden
from knowrithm_common.events import Actor
from knowrithm_common.identity import Principal, Role, authenticated, require_roles, require_scopes
from knowrithm_common.openapi import errors

# Set by the gateway on every request it forwards (a client's own copy is dropped there).
CLIENT_IP_HEADER = "x-knowrithm-client-ip"

MEMBERS = (Role.SUPER_ADMIN, Role.ADMIN, Role.USER)
ADMINS = (Role.SUPER_ADMIN, Role.ADMIN)


class CompanyRequired(BadRequest):
    code, message = "company_id_required", "A super admin must name the company (company_id)"


def client_ip(request: Request) -> str | None:
    """The caller's address as the gateway decided it (never a client-written X-Forwarded-For)."""
    return request.headers.get(CLIENT_IP_HEADER) or (request.client.host if request.client else None)


def actor_of(request: Request, principal: Principal) -> Actor:
    """The audit actor of a request: who, on whose behalf, from which address, with which client."""
    return Actor(
        kind=principal.kind,
        id=principal.user_id,
        impersonator_id=principal.impersonator_id,
        ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:255] or None,
    )


def company_of(principal: Principal, requested: uuid.UUID | None = None) -> uuid.UUID | None:
    """The company `principal` acts on: its own; a super admin's `requested` one, or None (all)."""
    if principal.is_super_admin:
        return requested
    if principal.company_id is None:
        raise Forbidden("This operation needs a company member")
    if requested is not None and requested != principal.company_id:
        raise CompanyNotFound()
    return principal.company_id


@dataclass(frozen=True, slots=True)
class Subject:
    """Who calls, the company the request acts on (None: every company) and the audit actor."""

    principal: Principal
    company_id: uuid.UUID | None
    actor: Actor

    @property
    def company(self) -> uuid.UUID:
        """The one company this request acts on; 400 for a super admin who named none."""
        if self.company_id is None:
            raise CompanyRequired()
        return self.company_id

    def named(self, requested: uuid.UUID | None) -> uuid.UUID:
        """The company a new thing belongs to, when the body may name it (super admins must)."""
        if requested is None:
            return self.company
        if self.company_id is not None and requested != self.company_id:
            raise CompanyNotFound()
        return requested

    @property
    def is_super_admin(self) -> bool:
        return self.principal.is_super_admin


def subject_dependency(
    roles: tuple[Role, ...], scope: str, *, company_query: bool = True
) -> Callable[..., Subject]:
    """A dependency resolving the `Subject` of callers holding one of `roles` (API keys: `scope`).

    With `company_query`, the route takes `?company_id=` (a super admin's choice of company);
    without, a super admin acts on every company (routes whose path names the company).
    """
    may_act = require_roles(*roles)
    holds_scope = require_scopes([scope])

    def resolve(request: Request, company_id: uuid.UUID | None) -> Subject:
        may_act(request)
        principal = holds_scope(request)
        return Subject(principal, company_of(principal, company_id), actor_of(request, principal))

    if not company_query:

        def without_query(request: Request) -> Subject:
            return resolve(request, None)

        return without_query

    def dependency(
        request: Request,
        company_id: uuid.UUID | None = Query(
            None, description="Super admins: the company to act on (default: every company)"
        ),
    ) -> Subject:
        return resolve(request, company_id)

    return dependency


def _super_admin(request: Request) -> Subject:
    principal = require_roles(Role.SUPER_ADMIN)(request)
    return Subject(principal, None, actor_of(request, principal))


def _anyone_signed_in(request: Request) -> Subject:
    principal = authenticated(request)
    return Subject(principal, principal.company_id, actor_of(request, principal))


# Members of the company (and API keys with `read`) read.
CompanyRead = Annotated[Subject, Depends(subject_dependency(MEMBERS, "read"))]
# Admins (and API keys with the method's scope) change.
CompanyWrite = Annotated[Subject, Depends(subject_dependency(ADMINS, "write"))]
CompanyUpdate = Annotated[Subject, Depends(subject_dependency(ADMINS, "update"))]
CompanyDelete = Annotated[Subject, Depends(subject_dependency(ADMINS, "delete"))]
# Admin-only reads (API keys with `read`), and admin-only operations (keys with `admin`).
CompanyAdminRead = Annotated[Subject, Depends(subject_dependency(ADMINS, "read"))]
CompanyAdmin = Annotated[Subject, Depends(subject_dependency(ADMINS, "admin"))]
# Super admins only; `company_id` is None (they act on the platform).
SuperAdmin = Annotated[Subject, Depends(_super_admin)]
# Anyone authenticated (a user, an API key, a lead): the route decides the rest.
Caller = Annotated[Subject, Depends(_anyone_signed_in)]



# For the `responses=` of routes whose subject may name a company (`?company_id=`).
COMPANY_NOT_FOUND = errors((404, "`company_id` names no company the caller may act on"))
