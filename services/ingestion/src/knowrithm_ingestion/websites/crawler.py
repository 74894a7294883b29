"""Crawl one web site breadth-first through the SSRF-guarded fetcher (no database here).

Same site only: the base URL's host, with or without "www.", on the same port (http and https
both). The exact host, not the registrable domain: telling "blog.example.com" (same owner)
from "example.github.io" (another owner) needs the public suffix list, so subdomains are
separate sources. robots.txt is honoured (its Crawl-delay too, capped); sitemap pages join at
depth 1. The base URL and the seed URLs are always crawled (the user named them), the path
rules apply to the pages found from them. Only HTML pages are parsed and followed; a failing
page is recorded and the crawl goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit, urlunsplit

from knowrithm_ingestion.extraction.html import extract_html
from knowrithm_ingestion.websites.fetch import FetchFailed, FetchRefused, FetchResult, SafeFetcher
from knowrithm_ingestion.websites.robots import Robots, load_robots, sitemap_urls

HTML_TYPES = ("text/html", "application/xhtml+xml")
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
# Links to these are files, not pages: not even requested.
SKIPPED_SUFFIXES = (
    ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".css", ".js",
    ".json", ".xml", ".zip", ".gz", ".tgz", ".tar", ".rar", ".7z", ".mp3", ".mp4", ".avi", ".mov", ".webm",
    ".woff", ".woff2", ".ttf", ".eot", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".exe", ".dmg",
    ".apk", ".iso", ".csv",
)

OnPage = Callable[["CrawlPage", int, int], Awaitable[None]]


@dataclass
class CrawlPage:
    url: str  # canonical: no fragment, lower-case scheme and host, no default port, "/" for an empty path
    depth: int
    status: int | None = None
    title: str | None = None
    html: bytes | None = None
    content_hash: str | None = None  # of the readable text: markup-only changes do not count
    error: str | None = None
    excluded_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.excluded_reason is None and self.html is not None


def canonical_url(url: str) -> str | None:
    """The canonical form of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def site_of(url: str) -> tuple[str, int | None] | None:
    """What "the same site" compares: the host without "www." and the explicit port."""
    canonical = canonical_url(url)
    if canonical is None:
        return None
    parts = urlsplit(canonical)
    host = (parts.hostname or "").removeprefix("www.")
    return host, parts.port


def path_refusal(path: str, *, allowed: Sequence[str], disallowed: Sequence[str]) -> str | None:
    """Why the source's path rules exclude `path`, or None."""
    for prefix in disallowed:
        if prefix and path.startswith(prefix):
            return f"excluded by disallowed_paths ({prefix})"
    if allowed and not any(path.startswith(p) for p in allowed if p):
        return "not under the allowed_paths"
    return None


def _charset(content_type: str | None) -> str:
    message = Message()
    message["content-type"] = content_type or "text/html"
    return str(message.get_param("charset") or "utf-8")


def _is_html(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in HTML_TYPES


def _parse(html: bytes, content_type: str | None, url: str) -> tuple[str | None, str, list[str]]:
    """Title, readable text and links of a page (CPU work: runs in a thread)."""
    try:
        text = html.decode(_charset(content_type), errors="replace")
    except LookupError:  # an unknown charset name
        text = html.decode("utf-8", errors="replace")
    extracted, links = extract_html(text, base_url=url)
    readable = "\n".join([extracted.title or "", *(block.text for block in extracted.blocks)])
    return extracted.title, readable, links


class _Crawl:
    """The state of one crawl: queue, pages seen, pages fetched."""

    def __init__(
        self, *, fetcher: SafeFetcher, base_url: str, max_depth: int, max_pages: int,
        allowed_paths: Sequence[str], disallowed_paths: Sequence[str], user_agent: str, delay: float,
        on_page: OnPage | None,
    ) -> None:
        self.fetcher, self.user_agent, self.on_page = fetcher, user_agent, on_page
        self.max_depth, self.max_pages, self.delay = max(0, max_depth), max(1, max_pages), max(0.0, delay)
        self.allowed = [_prefix(p) for p in allowed_paths if p.strip()]
        self.disallowed = [_prefix(p) for p in disallowed_paths if p.strip()]
        self.base = canonical_url(base_url) or base_url
        self.site = site_of(self.base)
        self.queue: deque[tuple[str, int, bool]] = deque()  # url, depth, named by the user
        self.seen: set[str] = set()
        self.pages: list[CrawlPage] = []
        self.fetched = self.excluded = 0
        self.robots = Robots()

    def same_site(self, url: str) -> bool:
        return site_of(url) == self.site

    def enqueue(self, url: str, depth: int, *, seed: bool = False) -> None:
        canonical = canonical_url(url)
        if canonical is None or canonical in self.seen or not self.same_site(canonical):
            return
        if not seed and urlsplit(canonical).path.lower().endswith(SKIPPED_SUFFIXES):
            return
        self.seen.add(canonical)
        self.queue.append((canonical, depth, seed))

    async def start(self, seed_urls: Sequence[str]) -> None:
        origin = urlunsplit((*urlsplit(self.base)[:2], "", "", ""))
        self.robots = await load_robots(self.fetcher, origin, user_agent=self.user_agent)
        self.delay = max(self.delay, self.robots.crawl_delay)
        for url in (self.base, *seed_urls):
            self.enqueue(url, 0, seed=True)
        if self.max_depth >= 1:
            for url in await sitemap_urls(
                self.fetcher, self.robots.sitemaps or [f"{origin}/sitemap.xml"], limit=self.max_pages * 2
            ):
                self.enqueue(url, 1)

    async def run(self) -> list[CrawlPage]:
        while self.queue and self.fetched < self.max_pages:
            url, depth, seed = self.queue.popleft()
            page = await self.visit(url, depth, seed=seed)
            if page is None:
                continue
            self.pages.append(page)
            if self.on_page is not None:
                total = min(self.max_pages, self.fetched + len(self.queue))
                await self.on_page(page, self.fetched, max(total, self.fetched))
        return self.pages

    async def visit(self, url: str, depth: int, *, seed: bool) -> CrawlPage | None:
        reason = self.robots.refusal(url, self.user_agent)
        if reason is None and not seed:
            reason = path_refusal(urlsplit(url).path, allowed=self.allowed, disallowed=self.disallowed)
        if reason is not None:
            self.excluded += 1  # recorded up to max_pages, so a huge excluded area stays bounded
            return CrawlPage(url, depth, excluded_reason=reason) if self.excluded <= self.max_pages else None
        if self.fetched and self.delay:
            await asyncio.sleep(self.delay)
        self.fetched += 1
        try:
            result = await self.fetcher.fetch(url, accept=HTML_ACCEPT)
        except FetchRefused as exc:
            return CrawlPage(url, depth, error=exc.reason)
        except FetchFailed as exc:
            return CrawlPage(url, depth, status=exc.status, error=exc.reason)
        return await self.read(url, depth, result)

    async def read(self, url: str, depth: int, result: FetchResult) -> CrawlPage | None:
        final = canonical_url(result.url) or url
        if final != url:
            if not self.same_site(final):
                return CrawlPage(url, depth, status=result.status,
                                 excluded_reason=f"redirects to another site ({final})")
            if final in self.seen:
                return None  # an alias of a page crawled (or queued) already
            self.seen.add(final)
        if not _is_html(result.content_type):
            kind = (result.content_type or "unknown type").split(";", 1)[0]
            return CrawlPage(final, depth, status=result.status, excluded_reason=f"not an HTML page ({kind})")
        title, text, links = await asyncio.to_thread(_parse, result.content, result.content_type, final)
        digest = hashlib.sha256(text.encode() if text.strip() else result.content).hexdigest()
        if depth < self.max_depth:
            for link in links:
                self.enqueue(link, depth + 1)
        return CrawlPage(final, depth, status=result.status, title=title, html=result.content,
                         content_hash=digest)


def _prefix(path: str) -> str:
    path = path.strip()
    return path if path.startswith("/") else "/" + path


async def crawl(
    *,
    fetcher: SafeFetcher,
    base_url: str,
    seed_urls: Sequence[str],
    max_depth: int,
    max_pages: int,
    allowed_paths: Sequence[str],
    disallowed_paths: Sequence[str],
    user_agent: str,
    delay: float = 0,
    on_page: OnPage | None = None,
) -> list[CrawlPage]:
    """Crawl the site of `base_url`: pages fetched (at most `max_pages`), failed and excluded."""
    state = _Crawl(
        fetcher=fetcher, base_url=base_url, max_depth=max_depth, max_pages=max_pages,
        allowed_paths=allowed_paths, disallowed_paths=disallowed_paths, user_agent=user_agent,
        delay=delay, on_page=on_page,
    )
    await state.start(seed_urls)
    return await state.run()
