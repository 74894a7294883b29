"""HTTP API of web site sources: register, list, pages, crawl, delete, and the widget handshake.

Members read their company's sources (API keys need `read`); admins register, crawl and delete
(keys need write / delete). Another company's ids answer 404; super admins act on any company.
Crawls and deletions answer 202 with a task (`/api/v1/tasks/{id}/status`); a crawl requested
while one runs answers 409 `crawl_in_progress`. The handshake is public: the chat widget calls
it from the page it is embedded in, and the agent's allowed origins decide.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tasks import accepted
from knowrithm_common.tenancy import CompanyDelete, CompanyRead, CompanyWrite
from knowrithm_ingestion.pipeline.deps import Dependencies
from knowrithm_ingestion.websites import repository as repo
from knowrithm_ingestion.websites import service
from knowrithm_ingestion.websites.schemas import (
    CrawlRequest,
    HandshakeOut,
    HandshakeRequest,
    WebsiteAccepted,
    WebsitePageOut,
    WebsitePages,
    WebsiteSourceCreate,
    WebsiteSourceCreated,
    WebsiteSourceList,
    WebsiteSourceOut,
)

router = APIRouter(tags=["Website"])
OptionalCrawl = Annotated[CrawlRequest | None, Body()]


def _accepted(task_id: uuid.UUID, source_id: uuid.UUID, message: str) -> WebsiteAccepted:
    return WebsiteAccepted(**accepted(task_id, message), website_source_id=source_id)


@router.post("/api/v1/website/source", status_code=201, response_model=WebsiteSourceCreated,
             responses=errors(404, 409))
async def register_source(
    body: WebsiteSourceCreate, session: Session, subject: CompanyWrite, deps: Dependencies
) -> WebsiteSourceCreated:
    """Register a web site for automated crawling by an agent and queue its first crawl (admin)."""
    source, task_id = await service.register_source(
        session, deps, company_id=subject.company_id, body=body, actor=subject.actor
    )
    return WebsiteSourceCreated(website_source=WebsiteSourceOut.of(source), crawl_task_id=task_id)


@router.get("/api/v1/website/source", response_model=WebsiteSourceList)
async def list_sources(
    session: Session, subject: CompanyRead,
    agent_id: uuid.UUID | None = Query(None, description="Only this agent's sources"),
) -> WebsiteSourceList:
    """The company's web site sources, newest first."""
    sources = await repo.list_sources(session, subject.company_id, agent_id=agent_id)
    return WebsiteSourceList(website_sources=[WebsiteSourceOut.of(s) for s in sources])


@router.get("/api/v1/website/agent/{agent_id}/sources", response_model=WebsiteSourceList)
async def agent_sources(
    agent_id: uuid.UUID, session: Session, subject: CompanyRead, deps: Dependencies
) -> WebsiteSourceList:
    """An agent's web site sources (404 for an unknown agent)."""
    sources = await service.agent_sources(session, subject.company_id, agent_id, agents=deps.agents)
    return WebsiteSourceList(website_sources=[WebsiteSourceOut.of(s) for s in sources])


@router.get("/api/v1/website/source/{source_id}/pages", response_model=WebsitePages)
async def source_pages(source_id: uuid.UUID, session: Session, subject: CompanyRead) -> WebsitePages:
    """A web site source and its pages: crawled, failed (with the reason), excluded or pending."""
    source = await service.get_source(session, source_id, subject.company_id)
    pages = await repo.pages_of(session, source.id)
    return WebsitePages(website_source=WebsiteSourceOut.of(source),
                        pages=[WebsitePageOut.of(p, source) for p in pages])


@router.post("/api/v1/sdk/website/source/{source_id}/crawl", status_code=202, response_model=WebsiteAccepted,
             responses=errors(409), summary="Sdk Crawl Source",
             description="Queue a crawl (SDK route; same as POST /website/source/{id}/crawl).")
@router.post("/api/v1/website/source/{source_id}/crawl", status_code=202, response_model=WebsiteAccepted,
             responses=errors(409))
async def crawl_source(
    source_id: uuid.UUID, session: Session, subject: CompanyWrite, deps: Dependencies,
    body: OptionalCrawl = None,
) -> WebsiteAccepted:
    """Queue a crawl to refresh the site's content; 409 while one is running (admin)."""
    max_pages = body.max_pages if body else None
    task_id = await service.request_crawl(
        session, source_id=source_id, company_id=subject.company_id, max_pages=max_pages,
        page_cap=deps.settings.crawl_max_pages, actor=subject.actor,
    )
    return _accepted(task_id, source_id, "Crawl queued.")


@router.delete("/api/v1/sdk/website/source/{source_id}", status_code=202, response_model=WebsiteAccepted,
               summary="Sdk Delete Source",
               description="Delete a web site source (SDK route; same as DELETE /website/source/{id}).")
@router.delete("/api/v1/website/source/{source_id}", status_code=202, response_model=WebsiteAccepted)
async def delete_source(source_id: uuid.UUID, session: Session, subject: CompanyDelete) -> WebsiteAccepted:
    """Delete a web site source now; its pages, documents and vectors are removed by a task (admin)."""
    task_id = await service.delete_source(
        session, source_id=source_id, company_id=subject.company_id, actor=subject.actor
    )
    return _accepted(task_id, source_id, "Website source deleted; its pages and documents are being removed.")


@router.post("/api/v1/website/handshake", response_model=HandshakeOut, responses=errors(403, 404))
async def handshake(
    body: HandshakeRequest, request: Request, session: Session, deps: Dependencies
) -> HandshakeOut:
    """The chat widget declares the page it is embedded in (public: the agent's allowed origins decide)."""
    source, page, task_id = await service.handshake(
        session, deps.fetcher, agents=deps.agents, body=body, origin_header=request.headers.get("origin")
    )
    return HandshakeOut(
        website_source=WebsiteSourceOut.of(source),
        website_page=WebsitePageOut.of(page, source) if page is not None else None,
        crawl_task_id=task_id,
    )
