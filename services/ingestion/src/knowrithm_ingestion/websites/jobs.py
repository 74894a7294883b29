"""Worker handlers: crawl a web site source, purge a deleted one.

A crawl saves each page in its own short transaction as it goes (a redelivered job repeats
the work and replaces what it finds, so it is idempotent). Each save holds a shared lock on
the source row and checks it is still live, so once a deletion commits no page is added
behind the purge's back; the crawl then stops. Pages whose readable text changed (or that
have no document yet) get their document created or replaced and queued for processing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db.base import utcnow
from knowrithm_common.db.session import run_after_commit
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import (
    CrawlWebsite,
    PurgeWebsiteSource,
    WebsiteCrawledV1,
    WebsiteSourceDeletedV1,
)
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.tasks import TaskStatus, report_progress
from knowrithm_ingestion.documents.service import purge_documents, store_page_document
from knowrithm_ingestion.models import WebsitePage, WebsiteSource, outbox, shared
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.websites import repository as repo
from knowrithm_ingestion.websites.crawler import CrawlPage, crawl, path_refusal

logger = logging.getLogger(__name__)


class _SourceGone(Exception):
    """The source was deleted while it was being crawled."""


@dataclass
class _Tally:
    crawled: int = 0
    changed: int = 0
    failed: int = 0
    excluded: int = 0
    first_failure: str | None = None
    first_exclusion: str | None = None

    def result(self) -> dict[str, Any]:
        return {"pages_crawled": self.crawled, "pages_changed": self.changed, "pages_failed": self.failed,
                "pages_excluded": self.excluded}


async def _progress(deps: Deps, task_id: uuid.UUID | None, status: TaskStatus, **values: Any) -> None:
    if task_id is not None:
        await report_progress(deps.db, shared.tasks, task_id, status=status, **values)


# --- crawl --------------------------------------------------------------------------------


async def crawl_website(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Crawl one source; pages saved as they come, changed ones (re)processed."""
    job = CrawlWebsite.model_validate(envelope.data)
    source = await _start(deps, job.website_source_id)
    if source is None:
        await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="source deleted",
                        result={"skipped": "the web site source was deleted"})
        return
    await _progress(deps, job.task_id, TaskStatus.RUNNING, progress=1,
                    stage="reading robots.txt and sitemaps")
    tally = _Tally()
    try:
        await _crawl(deps, source, job, tally)
    except _SourceGone:
        await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="source deleted",
                        result={**tally.result(), "skipped": "the web site source was deleted"})
        return
    except Exception as exc:
        if ctx.final_attempt:
            await _record_failure(deps, source, job.task_id, tally, exc)
        raise
    await _finish(deps, source, job.task_id, tally)


async def _start(deps: Deps, source_id: uuid.UUID) -> WebsiteSource | None:
    async with deps.db.session() as session, session.begin():
        source = await repo.get_source(session, source_id, None, lock=True)
        if source is None:
            return None
        source.last_crawl_status, source.last_crawl_started_at, source.last_error = "crawling", utcnow(), None
        return source


async def _crawl(deps: Deps, source: WebsiteSource, job: CrawlWebsite, tally: _Tally) -> None:
    settings = deps.settings
    max_pages = min(job.max_pages or source.max_pages, settings.crawl_max_pages)
    async with deps.db.sessions() as session:
        declared = await repo.pending_urls(session, source.id, limit=max_pages)
    # Pages the widget declared are not named by an admin: the source's path rules apply to them.
    rules = {"allowed": source.allowed_paths, "disallowed": source.disallowed_paths}
    declared = [url for url in declared if path_refusal(urlsplit(url).path, **rules) is None]

    async def on_page(page: CrawlPage, done: int, total: int) -> None:
        await _save_page(deps, source.id, page, tally)
        pct = 1 + int(98 * done / max(total, 1))
        await _progress(deps, job.task_id, TaskStatus.RUNNING, progress=pct, stage=f"crawling {done}/{total}")

    await crawl(
        fetcher=deps.fetcher, base_url=source.base_url, seed_urls=[*source.seed_urls, *declared],
        max_depth=source.max_depth, max_pages=max_pages, allowed_paths=source.allowed_paths,
        disallowed_paths=source.disallowed_paths, user_agent=settings.user_agent,
        delay=settings.crawl_delay_seconds, on_page=on_page,
    )


async def _save_page(deps: Deps, source_id: uuid.UUID, crawled: CrawlPage, tally: _Tally) -> None:
    session = deps.db.session()
    async with session:
        async with session.begin():
            source = await repo.lock_source_shared(session, source_id)
            if source is None or source.deleted_at is not None:
                raise _SourceGone()
            page = await repo.lock_page(
                session, source, url=crawled.url, path=urlsplit(crawled.url).path or "/", depth=crawled.depth
            )
            await _apply(session, deps, page, crawled, tally)
        await run_after_commit(session)


async def _apply(
    session: AsyncSession, deps: Deps, page: WebsitePage, crawled: CrawlPage, tally: _Tally
) -> None:
    page.depth = crawled.depth
    page.last_crawled_at, page.last_http_status = utcnow(), crawled.status
    if crawled.excluded_reason is not None:
        page.last_crawl_status, page.last_error = "excluded", crawled.excluded_reason
        tally.excluded += 1
        tally.first_exclusion = tally.first_exclusion or f"{crawled.url}: {crawled.excluded_reason}"
        return
    if crawled.error is not None or crawled.html is None:
        page.last_crawl_status, page.last_error = "failed", crawled.error or "The page could not be read"
        tally.failed += 1
        tally.first_failure = tally.first_failure or page.last_error
        return
    changed = page.content_hash != crawled.content_hash or page.document_id is None
    page.last_crawl_status, page.last_error = "crawled", None
    page.title, page.content_hash = crawled.title, crawled.content_hash
    page.content_length = len(crawled.html)
    tally.crawled += 1
    if changed:
        await store_page_document(
            session, blobs=deps.blobs, page=page, html=crawled.html, title=crawled.title
        )
        tally.changed += 1


async def _finish(deps: Deps, source: WebsiteSource, task_id: uuid.UUID | None, tally: _Tally) -> None:
    reason = tally.first_failure or tally.first_exclusion
    failed = tally.crawled == 0 and reason is not None
    error = f"No page could be crawled: {reason}" if failed else None
    async with deps.db.session() as session, session.begin():
        live = await repo.get_source(session, source.id, None, lock=True)
        if live is not None:
            live.last_crawl_status = "failed" if failed else "active"
            live.last_crawl_completed_at, live.last_error = utcnow(), error
        await _crawled_event(session, source, "failed" if failed else "completed", tally, error)
    await _progress(deps, task_id, TaskStatus.FAILED if failed else TaskStatus.COMPLETED, progress=100,
                    stage="failed" if failed else "completed", result=tally.result(), error=error)


async def _record_failure(
    deps: Deps, source: WebsiteSource, task_id: uuid.UUID | None, tally: _Tally, exc: Exception
) -> None:
    """The last attempt failed: say so on the source and the task before the job is dead-lettered."""
    logger.exception("crawl of website source %s failed", source.id)
    error = "The crawl failed because of an internal error; try again later"
    try:
        async with deps.db.session() as session, session.begin():
            live = await repo.get_source(session, source.id, None, lock=True)
            if live is not None:
                live.last_crawl_status, live.last_error = "failed", error
                live.last_crawl_completed_at = utcnow()
            await _crawled_event(session, source, "failed", tally, error)
        await _progress(deps, task_id, TaskStatus.FAILED, stage="failed", result=tally.result(), error=error)
    except Exception:
        logger.exception("could not record the failed crawl of %s (%s)", source.id, exc)


async def _crawled_event(
    session: AsyncSession, source: WebsiteSource, status: str, tally: _Tally, error: str | None
) -> None:
    data = WebsiteCrawledV1(
        website_source_id=source.id, agent_id=source.agent_id, status=status, pages_crawled=tally.crawled,
        pages_changed=tally.changed, pages_failed=tally.failed, error=error,
    )
    await outbox.add(session, data, company_id=source.company_id)


# --- purge --------------------------------------------------------------------------------


async def purge_website_source(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Remove a deleted source's pages with their documents, chunks and vectors."""
    job = PurgeWebsiteSource.model_validate(envelope.data)
    await _progress(deps, job.task_id, TaskStatus.RUNNING, progress=10, stage="removing pages")
    session = deps.db.session()
    async with session:
        async with session.begin():
            source = await repo.get_source(session, job.website_source_id, None, deleted=True, lock=True)
            if source is None:  # purged already, or restored
                result: dict[str, Any] = {"pages_deleted": 0, "documents_deleted": 0}
            else:
                result = await _purge(session, deps, source)
        await run_after_commit(session)
    await _progress(deps, job.task_id, TaskStatus.COMPLETED, progress=100, stage="completed", result=result)


async def _purge(session: AsyncSession, deps: Deps, source: WebsiteSource) -> dict[str, Any]:
    document_ids = await repo.page_document_ids(session, source.id)
    documents = await purge_documents(
        session, store=deps.store, blobs=deps.blobs, company_id=source.company_id, document_ids=document_ids
    )
    pages = await repo.delete_pages(session, source.id)
    deleted = WebsiteSourceDeletedV1(website_source_id=source.id, agent_id=source.agent_id)
    await outbox.add(session, deleted, company_id=source.company_id)
    return {"pages_deleted": pages, "documents_deleted": documents}
