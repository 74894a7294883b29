"""System metrics read from the projections (`GET /api/v1/admin/system-metric`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.projections import repository
from knowrithm_common.db import get_session
from knowrithm_common.identity import Principal, Role, require_roles

router = APIRouter(tags=["Admin"])
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _point(value: float, labels: dict[str, str], now: dt.datetime) -> list[dict[str, Any]]:
    return [{"labels": labels, "timestamp": now.isoformat(), "value": value}]


@router.get("/api/v1/admin/system-metric")
async def system_metrics(
    session: Session, principal: Principal = Depends(require_roles(Role.SUPER_ADMIN, Role.ADMIN))
) -> dict[str, Any]:
    """Platform metrics for super admins; an admin sees their own company's."""
    now = dt.datetime.now(dt.UTC)
    if principal.is_super_admin:
        metrics = {
            "companies_registered": _point(await repository.count_companies(session), {}, now),
            "users_registered": _point(await repository.count_users(session, None), {}, now),
        }
    else:
        labels = {"company_id": str(principal.company_id)}
        users = await repository.count_users(session, principal.company_id)
        metrics = {"users_registered": _point(users, labels, now)}
    return {"generated_at": now.isoformat(), "metrics": metrics}
