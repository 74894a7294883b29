"""Request and response models of the Website API (field names as the reference API's
WebsiteSource and WebsitePage)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from knowrithm_ingestion.models import WebsitePage, WebsiteSource
from knowrithm_ingestion.schemas import RowOut, columns

UrlText = Field(min_length=1, max_length=2048)
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Path = Annotated[str, Field(max_length=1024)]


class WebsiteSourceCreate(BaseModel):
    agent_id: uuid.UUID
    base_url: str = UrlText
    seed_urls: list[Url] = Field(default_factory=list, max_length=100, description="Extra start pages")
    allowed_paths: list[Path] = Field(default_factory=list, max_length=100,
                                     description="Path prefixes to crawl (empty: all)")
    disallowed_paths: list[Path] = Field(default_factory=list, max_length=100,
                                        description="Path prefixes never crawled")
    max_depth: int = Field(2, ge=0, le=10, description="Links followed from the start pages")
    max_pages: int = Field(50, ge=1, description="Pages per crawl (capped by the platform's limit)")
    crawl_frequency_minutes: int | None = Field(None, ge=1)
    notes: str | None = Field(None, max_length=5000)


class CrawlRequest(BaseModel):
    max_pages: int | None = Field(None, ge=1, description="Pages for this crawl (default: the source's)")


class HandshakeRequest(BaseModel):
    agent_id: uuid.UUID
    url: str = UrlText
    title: str | None = Field(None, max_length=1000)
    trigger_crawl: bool = False


class WebsiteSourceOut(RowOut):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    base_url: str
    domain: str
    seed_urls: list[str]
    allowed_paths: list[str]
    disallowed_paths: list[str]
    max_depth: int
    max_pages: int
    crawl_frequency_minutes: int | None
    notes: str | None
    crawl_config: dict[str, Any]
    is_active: bool
    last_crawl_status: str | None
    last_crawl_started_at: dt.datetime | None
    last_crawl_completed_at: dt.datetime | None
    last_error: str | None
    verified_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class WebsitePageOut(BaseModel):
    id: uuid.UUID
    website_source_id: uuid.UUID
    canonical_url: str
    path: str
    title: str | None
    depth: int
    last_crawl_status: str | None
    last_crawled_at: dt.datetime | None
    last_http_status: int | None
    last_error: str | None
    content_hash: str | None
    checksum: str | None = Field(description="Same as content_hash (kept for the reference API)")
    content_length: int | None
    language: str | None
    metadata: dict[str, Any]
    change_frequency_minutes: int | None
    next_crawl_at: dt.datetime | None
    raw_storage_path: str | None = Field(None, description="Not exposed: the content is the document's")
    document_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, page: WebsitePage, source: WebsiteSource) -> WebsitePageOut:
        every = source.crawl_frequency_minutes
        last = page.last_crawled_at
        next_at = last + dt.timedelta(minutes=every) if every and last else None
        return cls(**columns(cls, page, metadata=dict(page.page_metadata or {}), checksum=page.content_hash,
                             change_frequency_minutes=every, next_crawl_at=next_at, raw_storage_path=None))


class WebsiteSourceCreated(BaseModel):
    website_source: WebsiteSourceOut
    crawl_task_id: uuid.UUID = Field(description="The first crawl's task (GET /api/v1/tasks/{id}/status)")


class WebsiteSourceList(BaseModel):
    website_sources: list[WebsiteSourceOut]


class WebsitePages(BaseModel):
    website_source: WebsiteSourceOut
    pages: list[WebsitePageOut]


class WebsiteAccepted(BaseModel):
    status: str = "accepted"
    task_id: uuid.UUID
    message: str
    status_url: str
    website_source_id: uuid.UUID


class HandshakeOut(BaseModel):
    website_source: WebsiteSourceOut
    website_page: WebsitePageOut | None = Field(description="None when the site already has too many pages")
    crawl_task_id: uuid.UUID | None
