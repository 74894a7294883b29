"""Every query of web site sources and pages; scoped by company (None: a super admin, every company)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_ingestion.models import Document, WebsitePage, WebsiteSource


def _scoped(stmt: Select[Any], company_id: uuid.UUID | None) -> Select[Any]:
    return stmt if company_id is None else stmt.where(WebsiteSource.company_id == company_id)


async def get_source(
    session: AsyncSession, source_id: uuid.UUID, company_id: uuid.UUID | None, *,
    deleted: bool | None = False, lock: bool = False,
) -> WebsiteSource | None:
    """A source of the company: live (default), deleted (`deleted=True`) or either (None)."""
    stmt = _scoped(select(WebsiteSource).where(WebsiteSource.id == source_id), company_id)
    if deleted is not None:
        stmt = stmt.where(WebsiteSource.only_deleted() if deleted else WebsiteSource.not_deleted())
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def lock_source_shared(session: AsyncSession, source_id: uuid.UUID) -> WebsiteSource | None:
    """The source, locked against deletion until the transaction ends (a crawl saving a page)."""
    stmt = select(WebsiteSource).where(WebsiteSource.id == source_id).with_for_update(read=True)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def list_sources(
    session: AsyncSession, company_id: uuid.UUID | None, *, agent_id: uuid.UUID | None = None
) -> Sequence[WebsiteSource]:
    """Live sources of the company (of one agent), newest first."""
    stmt = _scoped(select(WebsiteSource).where(WebsiteSource.not_deleted()), company_id)
    if agent_id is not None:
        stmt = stmt.where(WebsiteSource.agent_id == agent_id)
    return (await session.scalars(stmt.order_by(WebsiteSource.created_at.desc(), WebsiteSource.id))).all()


async def find_by_base_url(
    session: AsyncSession, *, agent_id: uuid.UUID, base_url: str
) -> WebsiteSource | None:
    stmt = select(WebsiteSource).where(
        WebsiteSource.agent_id == agent_id, WebsiteSource.base_url == base_url, WebsiteSource.not_deleted()
    )
    return await session.scalar(stmt.limit(1))


async def sources_of_domain(
    session: AsyncSession, *, agent_id: uuid.UUID, domain: str
) -> Sequence[WebsiteSource]:
    """Live sources of the agent on `domain`, oldest first."""
    stmt = select(WebsiteSource).where(
        WebsiteSource.agent_id == agent_id, WebsiteSource.domain == domain, WebsiteSource.not_deleted()
    )
    return (await session.scalars(stmt.order_by(WebsiteSource.created_at, WebsiteSource.id))).all()


async def count_sources(session: AsyncSession, agent_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(WebsiteSource.agent_id == agent_id, WebsiteSource.not_deleted())
    return int(await session.scalar(stmt) or 0)


async def lock_name(session: AsyncSession, *parts: object) -> None:
    """A transaction-scoped advisory lock on a name: serialises check-then-insert (no unique index
    can say "one live source per agent and URL" with soft deletes)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    await session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


async def pages_of(session: AsyncSession, source_id: uuid.UUID) -> Sequence[WebsitePage]:
    """A source's pages, shallowest first."""
    stmt = select(WebsitePage).where(WebsitePage.website_source_id == source_id)
    return (await session.scalars(stmt.order_by(WebsitePage.depth, WebsitePage.canonical_url))).all()


async def count_pages(session: AsyncSession, source_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(WebsitePage.website_source_id == source_id)
    return int(await session.scalar(stmt) or 0)


async def pending_urls(session: AsyncSession, source_id: uuid.UUID, *, limit: int) -> list[str]:
    """Pages declared (by the widget) but never crawled: extra start pages for the next crawl."""
    stmt = select(WebsitePage.canonical_url).where(
        WebsitePage.website_source_id == source_id, WebsitePage.last_crawl_status == "pending"
    )
    return list(await session.scalars(stmt.order_by(WebsitePage.created_at).limit(limit)))


async def get_page(session: AsyncSession, source_id: uuid.UUID, url: str) -> WebsitePage | None:
    stmt = select(WebsitePage).where(
        WebsitePage.website_source_id == source_id, WebsitePage.canonical_url == url
    )
    return await session.scalar(stmt)


async def lock_page(
    session: AsyncSession, source: WebsiteSource, *, url: str, path: str, depth: int
) -> WebsitePage:
    """The source's page for `url`, created (pending) if new, locked for update."""
    await session.execute(
        pg_insert(WebsitePage).values(
            id=uuid.uuid4(), website_source_id=source.id, company_id=source.company_id,
            agent_id=source.agent_id, canonical_url=url, path=path, depth=depth, last_crawl_status="pending",
            page_metadata={},
        ).on_conflict_do_nothing(constraint="uq_website_pages_source_url")
    )
    stmt = select(WebsitePage).where(
        WebsitePage.website_source_id == source.id, WebsitePage.canonical_url == url
    ).with_for_update()
    return (await session.scalars(stmt.execution_options(populate_existing=True))).one()


async def page_document_ids(session: AsyncSession, source_id: uuid.UUID) -> list[uuid.UUID]:
    """The documents of a source's pages (linked either way: page -> document, document -> page)."""
    page_ids = select(WebsitePage.id).where(WebsitePage.website_source_id == source_id)
    linked = select(WebsitePage.document_id).where(
        WebsitePage.website_source_id == source_id, WebsitePage.document_id.is_not(None)
    )
    stmt = select(Document.id).where(Document.website_page_id.in_(page_ids)).union(linked)
    return list(dict.fromkeys(await session.scalars(stmt)))


async def delete_pages(session: AsyncSession, source_id: uuid.UUID) -> int:
    result = await session.execute(delete(WebsitePage).where(WebsitePage.website_source_id == source_id))
    return int(getattr(result, "rowcount", 0) or 0)
