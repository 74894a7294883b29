"""System metrics: counts from the projections plus the samples of the last 24 hours.

`{"generated_at", "metrics": {name: [{labels, timestamp, value}]}}`. Super admins see the
platform (`companies_registered`, `users_registered` and the platform-wide samples) or one
company (`?company_id=`, or the super-admin path); admins see their own company
(`users_registered` and its samples). Samples: the newest 1000 per metric, oldest first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.projections import repository as projections
from knowrithm_analytics.system import repository as repo
from knowrithm_analytics.system.sampler import request_sample
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.tasks import accepted
from knowrithm_common.tenancy import ADMINS, COMPANY_NOT_FOUND, CompanyAdmin, Subject, subject_dependency

router = APIRouter(tags=["Admin"], responses=COMPANY_NOT_FOUND)
# An admin, for `super-admin/company/{company_id}/...`: the company is in the path.
AdminOfPathCompany = Annotated[Subject, Depends(subject_dependency(ADMINS, "admin", company_query=False))]
SAMPLES_SINCE = dt.timedelta(hours=24)


def _point(value: float, labels: dict[str, str], now: dt.datetime) -> list[dict[str, Any]]:
    return [{"labels": labels, "timestamp": now.isoformat(), "value": value}]


async def _metrics(session: AsyncSession, company_id: uuid.UUID | None) -> dict[str, Any]:
    """The platform's metrics (company None) or one company's."""
    now = dt.datetime.now(dt.UTC)
    metrics = await repo.recent(session, company_id, now - SAMPLES_SINCE)
    if company_id is None:
        metrics["companies_registered"] = _point(await projections.count_companies(session), {}, now)
        metrics["users_registered"] = _point(await projections.count_users(session, None), {}, now)
    else:
        users = await projections.count_users(session, company_id)
        metrics["users_registered"] = _point(users, {"company_id": str(company_id)}, now)
    return {"generated_at": now.isoformat(), "metrics": metrics}


@router.get("/api/v1/admin/system-metric")
async def system_metrics(subject: CompanyAdmin, session: Session) -> dict[str, Any]:
    """The platform's metrics for super admins (a company's with `?company_id=`); an admin's company's."""
    return await _metrics(session, subject.company_id)


@router.get("/api/v1/super-admin/company/{company_id}/system-metric")
async def company_system_metrics(
    subject: AdminOfPathCompany, company_id: uuid.UUID, session: Session
) -> dict[str, Any]:
    """One company's metrics: any company for super admins, an admin's own company only (else 404)."""
    return await _metrics(session, await projections.company_in_path(session, subject, company_id))


@router.post("/api/v1/system-metric", status_code=202)
async def sample_system_metrics(subject: CompanyAdmin, session: Session, request: Request) -> JSONResponse:
    """Take a sample now, as a task: an admin's company, or the platform for super admins.

    The task's result holds the sampled values; they are recorded like the periodic samples.
    """
    sampler = getattr(request.app.state, "system_sampler", None)
    task_id = await request_sample(session, company_id=subject.company_id, sampler=sampler)
    body = {**accepted(task_id, "System metrics are being sampled."), "estimated_time": 1}
    return JSONResponse(body, status_code=202)
