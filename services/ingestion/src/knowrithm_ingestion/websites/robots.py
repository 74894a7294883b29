"""robots.txt and sitemaps of a site, read through the SSRF-guarded fetcher.

robots.txt follows RFC 9309: missing (4xx) allows everything; a server error (5xx) means
"crawl nothing for now". A robots.txt that cannot be reached at all allows everything here:
the pages would fail the same way, and their own error tells the user more. Sitemaps are
XML parsed with defusedxml (no entity expansion, no external entities); a sitemap index is
followed one level deep, gzip sitemaps are expanded up to a bound.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.robotparser import RobotFileParser

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from knowrithm_ingestion.websites.fetch import FetchFailed, FetchRefused, SafeFetcher

logger = logging.getLogger(__name__)

MAX_SITEMAPS = 10  # sitemap files read per crawl (an index's children included)
MAX_SITEMAP_BYTES = 20 * 1024 * 1024  # a gzip sitemap, expanded
MAX_CRAWL_DELAY = 10.0  # seconds: a robots.txt Crawl-delay above this is capped


@dataclass
class Robots:
    """What a site's robots.txt says for our user agent."""

    parser: RobotFileParser | None = None  # None: everything allowed
    blocked_reason: str | None = None  # set: nothing may be crawled now
    sitemaps: list[str] = field(default_factory=list)
    crawl_delay: float = 0.0

    def refusal(self, url: str, user_agent: str) -> str | None:
        """Why robots.txt forbids `url`, or None when it is allowed."""
        if self.blocked_reason:
            return self.blocked_reason
        if self.parser is not None and not self.parser.can_fetch(user_agent, url):
            return "robots.txt"
        return None


async def load_robots(fetcher: SafeFetcher, origin: str, *, user_agent: str) -> Robots:
    """Read `origin`/robots.txt; failures are treated as RFC 9309 says (see the module doc)."""
    try:
        result = await fetcher.fetch(f"{origin}/robots.txt", accept="text/plain")
    except FetchFailed as exc:
        if exc.status is not None and exc.status >= 500:
            return Robots(blocked_reason=f"robots.txt is unavailable (HTTP {exc.status}); try again later")
        return Robots()
    except FetchRefused:
        return Robots()
    parser = RobotFileParser()
    parser.parse(result.content.decode("utf-8", errors="replace").splitlines())
    delay = parser.crawl_delay(user_agent)
    return Robots(
        parser=parser,
        sitemaps=list(parser.site_maps() or []),
        crawl_delay=min(float(delay or 0), MAX_CRAWL_DELAY),
    )


async def sitemap_urls(fetcher: SafeFetcher, sitemaps: Sequence[str], *, limit: int) -> list[str]:
    """Page URLs listed in `sitemaps` (an index followed one level), at most `limit`, in order."""
    found: dict[str, None] = {}
    pending, read = list(sitemaps)[:MAX_SITEMAPS], 0
    index_level = True
    while pending and read < MAX_SITEMAPS and len(found) < limit:
        children: list[str] = []
        for url in pending[: MAX_SITEMAPS - read]:
            read += 1
            kind, locs = await _read_sitemap(fetcher, url)
            if kind == "sitemapindex" and index_level:
                children.extend(locs)
            elif kind == "urlset":
                found.update(dict.fromkeys(locs))
        pending, index_level = children, False
    return list(found)[:limit]


async def _read_sitemap(fetcher: SafeFetcher, url: str) -> tuple[str, list[str]]:
    try:
        result = await fetcher.fetch(url, accept="application/xml, text/xml")
        root = ElementTree.fromstring(_expand(result.content))
    except (FetchFailed, FetchRefused, DefusedXmlException, ElementTree.ParseError, ValueError) as exc:
        logger.info("sitemap %s skipped: %s", url, getattr(exc, "reason", exc))
        return "", []
    locs = [el.text.strip() for el in root.iter() if _local(el.tag) == "loc" and el.text and el.text.strip()]
    return _local(root.tag), locs


def _expand(content: bytes) -> bytes:
    if content[:2] != b"\x1f\x8b":
        return content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = inflater.decompress(content, MAX_SITEMAP_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("sitemap expands beyond the limit")
    return data


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]
