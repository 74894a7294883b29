"""Audit events: every auth and admin action, successful or refused, becomes `auth.audit.recorded.v1`.

A success rides in the request's transaction (it lands with the change, or not at all). A
refusal is recorded in a transaction of its own, because the request's is rolled back.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import shared
from knowrithm_common.db.session import Database
from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.auth import AuditRecordedV1
from knowrithm_common.messaging.outbox import record_event

SOURCE = "auth"


def _event(
    *,
    action: str,
    actor: Actor,
    company_id: uuid.UUID | None,
    target_type: str | None,
    target_id: object,
    outcome: str,
    reason: str | None,
    detail: dict[str, Any] | None,
) -> Any:
    data = AuditRecordedV1(
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        reason=reason,
        detail=detail or {},
    )
    return new_event(data, source=SOURCE, company_id=company_id, actor=actor)


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
    event = _event(
        action=action,
        actor=actor,
        company_id=company_id,
        target_type=target_type,
        target_id=target_id,
        outcome="success",
        reason=None,
        detail=detail,
    )
    await record_event(session, shared.outbox, event)


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
    event = _event(
        action=action,
        actor=actor,
        company_id=company_id,
        target_type=target_type,
        target_id=target_id,
        outcome="failure",
        reason=reason,
        detail=detail,
    )
    async with db.session() as session, session.begin():
        await record_event(session, shared.outbox, event)
