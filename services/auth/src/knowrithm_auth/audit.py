"""Audit events: every auth and admin action, successful or refused, becomes `auth.audit.recorded.v1`.

A success rides in the request's transaction (it lands with the change, or not at all). A
refusal is recorded in a transaction of its own, because the request's is rolled back; routes
of administrative actions declare `refusals_audited(action)`, so a refused attempt (a missing
role, another company's user, the last-admin rule) lands in the audit log with its reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, Request, params
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import User, outbox
from knowrithm_common.db.session import Database
from knowrithm_common.errors import KnowrithmError
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import AuditRecordedV1
from knowrithm_common.tenancy import actor_of


async def _add(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    company_id: uuid.UUID | None,
    target_type: str | None,
    target_id: object,
    detail: dict[str, Any] | None,
    reason: str | None = None,
) -> None:
    data = AuditRecordedV1(
        action=action,
        outcome="success" if reason is None else "failure",
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        reason=reason,
        detail=detail or {},
    )
    await outbox.add(session, data, company_id=company_id, actor=actor)


async def audit(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    company_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a successful action in the current transaction."""
    await _add(session, action=action, actor=actor, company_id=company_id, target_type=target_type,
               target_id=target_id, detail=detail)


async def audit_user(
    session: AsyncSession, action: str, *, actor: Actor, user: User, detail: dict[str, Any] | None = None
) -> None:
    """Record a successful action on one user, in the user's company."""
    await audit(session, action=action, actor=actor, company_id=user.company_id, target_type="user",
                target_id=user.id, detail=detail)


async def audit_refusal(
    db: Database,
    *,
    action: str,
    actor: Actor,
    company_id: uuid.UUID | None,
    reason: str,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a refused action in its own committed transaction."""
    async with db.session() as session, session.begin():
        await _add(session, action=action, actor=actor, company_id=company_id, target_type=target_type,
                   target_id=target_id, detail=detail, reason=reason)


def refusals_audited(
    action: str, *, target_type: str | None = None, target: str | None = None
) -> params.Depends:
    """A route dependency: an expected failure of the request is audited as a refused `action`.

    Declared in the route's `dependencies`, it is entered before the route's subject is
    resolved, so a caller refused for their role is audited too (anonymous callers, refused
    with 401, are not: they are nobody to audit). `target` names the path parameter holding the
    target's id; a `company_id` in the path is the company the refusal is recorded for.
    """

    async def dependency(request: Request) -> AsyncIterator[None]:
        try:
            yield
        except KnowrithmError as exc:
            principal = getattr(request.state, "principal", None)
            if principal is not None and principal.is_authenticated:
                path = request.path_params
                await audit_refusal(
                    request.app.state.db, action=action, actor=actor_of(request, principal),
                    company_id=path.get("company_id") or principal.company_id, reason=exc.code,
                    target_type=target_type, target_id=path.get(target) if target else None,
                )
            raise

    depends: params.Depends = Depends(dependency, scope="function")
    return depends
