"""Home: the dashboard's headline figures and what needs attention, in the viewer's scope.

Admins see their company's figures; other users the dashboard's personal scope (their own
conversations, documents and leads), as the analytics API decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]


@dataclass(frozen=True, slots=True)
class Figures:
    """What the home screen shows, read from `GET /api/v1/analytic/dashboard`."""

    personal: bool
    conversations: int
    documents: int
    leads: int
    agents: int
    users: int
    failed_documents: int
    new_leads: int
    generated_at: str | None

    @classmethod
    def of(cls, dashboard: dict[str, Any]) -> Figures:
        core = dashboard.get("core_metrics") or {}
        agents = (dashboard.get("agent_analytics") or {}).get("agent_status_distribution") or {}
        processing = (dashboard.get("performance_analytics") or {}).get("document_processing") or {}
        statuses = (dashboard.get("lead_analytics") or {}).get("lead_status_distribution") or {}
        return cls(
            personal=core.get("scope") == "personal",
            conversations=int(core.get("conversation_count") or 0),
            documents=int(core.get("document_count") or 0),
            leads=int(core.get("lead_count") or 0),
            agents=sum(int(n) for n in agents.values()),
            users=int(core.get("total_users") or 0),
            failed_documents=int(processing.get("failed_documents") or 0),
            new_leads=int(statuses.get("new") or 0),
            generated_at=dashboard.get("generated_at"),
        )


async def _figures(page: Page) -> Figures:
    assert page.session is not None
    dashboard = await page.api.call(page.session, "GET", "/api/v1/analytic/dashboard", client=page.client)
    return Figures.of(dashboard)


@router.get("/")
async def home(page: PageDep) -> Response:
    """The signed-in person's home; everyone else goes to the sign-in form."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    return await render(page, "home.html", figures=await _figures(page))


@router.get("/home/figures")
async def figures(page: PageDep) -> Response:
    """The figures alone, for the home screen's refresh button (htmx swaps them in)."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    return await render(page, "_figures.html", figures=await _figures(page), refreshed=True)
