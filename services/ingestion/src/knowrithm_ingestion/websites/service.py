"""Web site source use cases: register, list, crawl on request, delete, and the widget's
handshake. Services flush, never commit; crawls and purges run as jobs (see jobs.py).

A crawl in progress (queued or running, started less than CRAWL_STALE ago) refuses another
one with 409 `crawl_in_progress`: two crawls of one site would fetch every page twice. A crawl
whose worker died long ago does not block the next one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import (
    AgentNotAvailable,
    AgentNotFound,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    OriginNotAllowed,
)
from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import CrawlWebsite, PurgeWebsiteSource, WebsiteSourceRegisteredV1
from knowrithm_common.origins import origin_listed
from knowrithm_common.queries import AgentsOwner
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.models import AgentView, WebsitePage, WebsiteSource, outbox
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.tasks import queue_job
from knowrithm_ingestion.websites import repository as repo
from knowrithm_ingestion.websites.crawler import canonical_url, site_of
from knowrithm_ingestion.websites.fetch import FetchFailed, FetchRefused, SafeFetcher
from knowrithm_ingestion.websites.schemas import HandshakeRequest, WebsiteSourceCreate

CRAWL_STALE = dt.timedelta(hours=2)
HANDSHAKE_RECRAWL = dt.timedelta(hours=1)
HANDSHAKE_MAX_DEPTH, HANDSHAKE_MAX_PAGES = 1, 20
MAX_SOURCES_PER_AGENT = 50  # sources the public handshake may create for one agent
MAX_DECLARED_PAGES = 1000  # pages the public handshake may add to one source


class WebsiteSourceNotFound(NotFound):
    code, message = "website_source_not_found", "Website source not found"


class WebsiteAlreadyRegistered(Conflict):
    code = "website_already_registered"
    message = "This web site is already registered for the agent; crawl it again instead"


class CrawlInProgress(Conflict):
    code = "crawl_in_progress"
    message = "A crawl of this web site is already running; wait for it to finish, then try again"


class UrlNotAllowed(BadRequest):
    code = "url_not_allowed"


class WebsiteUnreachable(BadRequest):
    code = "website_unreachable"


# A page's origin the widget settings do not allow (before its web site is registered).
ORIGIN_NOT_ALLOWED = (
    "This page's origin is not allowed for the agent; add it to the widget's allowed origins "
    "or register the web site first"
)


class TooManyWebsites(Forbidden):
    code = "too_many_websites"
    message = (f"The agent already has {MAX_SOURCES_PER_AGENT} web sites; remove some or register this one "
               "from the dashboard")


def domain_of(url: str) -> str:
    """The host a source is known by: lower case, without "www."."""
    site = site_of(url)
    return site[0] if site else ""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _normalise(url: str, fetcher: SafeFetcher) -> str:
    try:
        fetcher.check_syntax(url)
    except FetchRefused as exc:
        raise UrlNotAllowed(exc.reason) from exc
    canonical = canonical_url(url)
    if canonical is None:
        raise UrlNotAllowed(f"{url} is not an http or https address")
    return canonical


def _seeds(base_url: str, seed_urls: Sequence[str], fetcher: SafeFetcher) -> list[str]:
    seeds = [_normalise(u, fetcher) for u in seed_urls]
    for seed in seeds:
        if site_of(seed) != site_of(base_url):
            raise UrlNotAllowed(f"The seed URL {seed} is not on the web site {base_url}; "
                                "register other sites as their own source")
    return list(dict.fromkeys(seeds))


async def _check_reachable(fetcher: SafeFetcher, url: str) -> None:
    try:
        await fetcher.check(url)
    except FetchRefused as exc:
        raise UrlNotAllowed(exc.reason) from exc
    except FetchFailed as exc:
        raise WebsiteUnreachable(exc.reason) from exc


async def register_source(
    session: AsyncSession, deps: Deps, *, company_id: uuid.UUID | None, body: WebsiteSourceCreate,
    actor: Actor | None = None,
) -> tuple[WebsiteSource, uuid.UUID]:
    """Register a web site for an agent and queue its first crawl; (source, crawl task id).

    The site's host is resolved and checked (a DNS lookup can take seconds) before the request's
    transaction starts: the agent is found in a short read of its own.
    """
    async with deps.db.sessions() as lookup:
        agent = await get_agent(lookup, company_id=company_id, agent_id=body.agent_id, owner=deps.agents)
    fetcher, page_cap = deps.fetcher, deps.settings.crawl_max_pages
    base_url = _normalise(body.base_url, fetcher)
    seeds = _seeds(base_url, body.seed_urls, fetcher)
    await _check_reachable(fetcher, base_url)
    await repo.lock_name(session, "website", agent.agent_id, base_url)
    if await repo.find_by_base_url(session, agent_id=agent.agent_id, base_url=base_url) is not None:
        raise WebsiteAlreadyRegistered()
    source = await _add_source(
        session, agent, base_url=base_url, seed_urls=seeds,
        allowed_paths=_paths(body.allowed_paths), disallowed_paths=_paths(body.disallowed_paths),
        max_depth=body.max_depth, max_pages=min(body.max_pages, page_cap),
        crawl_frequency_minutes=body.crawl_frequency_minutes, notes=body.notes, actor=actor,
    )
    return source, await queue_crawl(session, source, actor=actor)


def _paths(paths: Sequence[str]) -> list[str]:
    cleaned = (p.strip() for p in paths if p and p.strip())
    return list(dict.fromkeys(p if p.startswith("/") else "/" + p for p in cleaned))


async def _add_source(
    session: AsyncSession, agent: AgentView, *, base_url: str, actor: Actor | None, **fields: object
) -> WebsiteSource:
    source = WebsiteSource(
        id=uuid.uuid4(), company_id=agent.company_id, agent_id=agent.agent_id, base_url=base_url,
        domain=domain_of(base_url), crawl_config={}, **fields,
    )
    session.add(source)
    await session.flush()
    registered = WebsiteSourceRegisteredV1(
        website_source_id=source.id, agent_id=source.agent_id, base_url=base_url, domain=source.domain
    )
    await outbox.add(session, registered, company_id=source.company_id, actor=actor)
    return source


async def get_source(
    session: AsyncSession, source_id: uuid.UUID, company_id: uuid.UUID | None
) -> WebsiteSource:
    """A live source of the company; 404 otherwise."""
    source = await repo.get_source(session, source_id, company_id)
    if source is None:
        raise WebsiteSourceNotFound()
    return source


async def agent_sources(
    session: AsyncSession, company_id: uuid.UUID | None, agent_id: uuid.UUID, *, agents: AgentsOwner
) -> Sequence[WebsiteSource]:
    """The agent's live sources; 404 for an unknown agent."""
    agent = await get_agent(session, company_id=company_id, agent_id=agent_id, owner=agents)
    return await repo.list_sources(session, company_id, agent_id=agent.agent_id)


def crawl_running(source: WebsiteSource) -> bool:
    started = source.last_crawl_started_at
    return source.last_crawl_status == "crawling" and started is not None and utcnow() - started < CRAWL_STALE


async def queue_crawl(
    session: AsyncSession, source: WebsiteSource, *, max_pages: int | None = None, actor: Actor | None = None
) -> uuid.UUID:
    """Mark the source crawling and queue a CrawlWebsite job (both land with the commit)."""
    source.last_crawl_status, source.last_crawl_started_at = "crawling", utcnow()
    job = CrawlWebsite(website_source_id=source.id, max_pages=max_pages)
    task_id = await queue_job(session, job, kind="crawl_website", company_id=source.company_id, actor=actor)
    await session.flush()
    return task_id


async def request_crawl(
    session: AsyncSession, *, source_id: uuid.UUID, company_id: uuid.UUID | None, max_pages: int | None,
    page_cap: int, actor: Actor | None = None,
) -> uuid.UUID:
    """Queue a crawl of a source; 409 while one is running."""
    source = await repo.get_source(session, source_id, company_id, lock=True)
    if source is None:
        raise WebsiteSourceNotFound()
    if crawl_running(source):
        raise CrawlInProgress()
    pages = min(max_pages, page_cap) if max_pages else None
    return await queue_crawl(session, source, max_pages=pages, actor=actor)


async def delete_source(
    session: AsyncSession, *, source_id: uuid.UUID, company_id: uuid.UUID | None, actor: Actor | None = None
) -> uuid.UUID:
    """Soft-delete a source now; a PurgeWebsiteSource job removes its pages, documents and vectors."""
    source = await repo.get_source(session, source_id, company_id, lock=True)
    if source is None:
        raise WebsiteSourceNotFound()
    source.soft_delete()
    source.last_crawl_status = "inactive"
    job = PurgeWebsiteSource(website_source_id=source.id)
    task_id = await queue_job(session, job, kind="purge_website_source", company_id=source.company_id,
                              actor=actor)
    await session.flush()
    return task_id


# --- the widget's handshake (public) --------------------------------------------------------


async def handshake(
    session: AsyncSession, fetcher: SafeFetcher, *, agents: AgentsOwner, body: HandshakeRequest,
    origin_header: str | None,
) -> tuple[WebsiteSource, WebsitePage | None, uuid.UUID | None]:
    """Record the page a widget is embedded in; (source, page, crawl task id or None)."""
    agent = await _available_agent(session, body.agent_id, agents)
    url = _normalise(body.url, fetcher)
    origin = origin_of(url)
    if origin_header is not None and (canonical_url(origin_header) or "").rstrip("/") != origin:
        raise OriginNotAllowed("The request's Origin does not match the page URL")
    await repo.lock_name(session, "website-handshake", agent.agent_id, domain_of(url))
    sources = await repo.sources_of_domain(session, agent_id=agent.agent_id, domain=domain_of(url))
    if not sources and not _origin_allowed(agent, origin):
        raise OriginNotAllowed(ORIGIN_NOT_ALLOWED)
    source = next((s for s in sources if origin_of(s.base_url) == origin), None) or next(iter(sources), None)
    if source is None:
        source = await _widget_source(session, agent, origin)
    source.verified_at = utcnow()
    page = await _declare_page(session, source, url=url, title=body.title)
    task_id = None
    if body.trigger_crawl and not _crawled_recently(source):
        task_id = await queue_crawl(session, source)
    await session.flush()
    return source, page, task_id


def _active(agent: AgentView) -> None:
    if agent.status != "active":
        raise AgentNotAvailable()


async def _available_agent(session: AsyncSession, agent_id: uuid.UUID, agents: AgentsOwner) -> AgentView:
    try:
        return await get_agent(session, company_id=None, agent_id=agent_id, owner=agents, check=_active)
    except AgentNotFound as exc:
        raise AgentNotAvailable() from exc


def _origin_allowed(agent: AgentView, origin: str) -> bool:
    return origin_listed(agent.widget_config, origin) is True  # no list: only the agent's own sites


async def _widget_source(session: AsyncSession, agent: AgentView, origin: str) -> WebsiteSource:
    if await repo.count_sources(session, agent.agent_id) >= MAX_SOURCES_PER_AGENT:
        raise TooManyWebsites()
    return await _add_source(
        session, agent, base_url=origin + "/", seed_urls=[], allowed_paths=[], disallowed_paths=[],
        max_depth=HANDSHAKE_MAX_DEPTH, max_pages=HANDSHAKE_MAX_PAGES, crawl_frequency_minutes=None,
        notes="Registered by the chat widget", actor=None,
    )


async def _declare_page(
    session: AsyncSession, source: WebsiteSource, *, url: str, title: str | None
) -> WebsitePage | None:
    if await repo.get_page(session, source.id, url) is None and (
        await repo.count_pages(session, source.id) >= MAX_DECLARED_PAGES
    ):
        return None
    page = await repo.lock_page(session, source, url=url, path=urlsplit(url).path or "/", depth=0)
    if title and title.strip():
        page.title = title.strip()
    return page


def _crawled_recently(source: WebsiteSource) -> bool:
    started = source.last_crawl_started_at
    return crawl_running(source) or (started is not None and utcnow() - started < HANDSHAKE_RECRAWL)
