"""Crawling a local web site: limits, robots.txt, sitemaps, same-site rules and per-page
failures. The sites are real HTTP servers on loopback addresses."""

from __future__ import annotations

import pytest

from knowrithm_ingestion.websites.crawler import canonical_url, crawl, site_of
from knowrithm_ingestion.websites.fetch import SafeFetcher

from .sites import Site

UA = "KnowrithmBot/1.0 (+https://knowrithm.org/bot)"


@pytest.fixture
async def fetcher():
    f = SafeFetcher(allowlist=["127.0.0.5/32", "127.0.0.6/32"], timeout=5, max_bytes=100_000)
    yield f
    await f.aclose()


@pytest.fixture
def site():
    with Site("127.0.0.5") as s:
        yield s


async def run(fetcher, site, **kw):
    options = dict(seed_urls=[], max_depth=3, max_pages=50, allowed_paths=[], disallowed_paths=[], user_agent=UA)
    options.update(kw)
    pages = await crawl(fetcher=fetcher, base_url=site.url("/"), **options)
    return {p.url.removeprefix(site.origin): p for p in pages}


def link(*paths):
    return " ".join(f'<a href="{p}">{p}</a>' for p in paths)


async def test_pages_beyond_max_depth_are_not_fetched(fetcher, site):
    site.page("/", link("/a"), title="Home").page("/a", link("/a/b")).page("/a/b", link("/a/b/c"))
    site.page("/a/b/c", "too deep")
    pages = await run(fetcher, site, max_depth=2)
    assert set(pages) == {"/", "/a", "/a/b"}
    assert [pages[p].depth for p in ("/", "/a", "/a/b")] == [0, 1, 2]
    assert pages["/"].title == "Home"
    assert site.hits["/a/b/c"] == 0


async def test_crawl_stops_at_max_pages(fetcher, site):
    site.page("/", link(*(f"/p{i}" for i in range(10))))
    for i in range(10):
        site.page(f"/p{i}", f"page {i}")
    pages = await run(fetcher, site, max_pages=4)
    assert len(pages) == 4
    assert sum(site.hits[f"/p{i}"] for i in range(10)) == 3


async def test_robots_txt_disallow_excludes_pages_without_fetching_them(fetcher, site):
    site.robots("User-agent: *\nDisallow: /private\n")
    site.page("/", link("/private/x", "/public")).page("/private/x", "secret").page("/public", "hello")
    pages = await run(fetcher, site)
    assert pages["/private/x"].excluded_reason == "robots.txt"
    assert pages["/public"].ok
    assert site.hits["/private/x"] == 0


async def test_robots_txt_for_another_agent_does_not_apply(fetcher, site):
    site.robots("User-agent: OtherBot\nDisallow: /\n")
    site.page("/", link("/a")).page("/a", "a")
    pages = await run(fetcher, site)
    assert pages["/a"].ok


async def test_page_listed_only_in_the_sitemap_is_found(fetcher, site):
    site.page("/", "no links here").page("/hidden", "only in the sitemap", title="Hidden")
    site.sitemap([site.url("/hidden"), "http://elsewhere.example/x"])
    pages = await run(fetcher, site)
    assert pages["/hidden"].ok and pages["/hidden"].depth == 1
    assert pages["/hidden"].title == "Hidden"
    assert len(pages) == 2


async def test_sitemap_index_named_in_robots_txt_is_followed(fetcher, site):
    site.robots(f"User-agent: *\nAllow: /\nSitemap: {site.url('/maps/index.xml')}\n")
    site.sitemap_index([site.url("/maps/pages.xml")], path="/maps/index.xml")
    site.sitemap([site.url("/deep")], path="/maps/pages.xml")
    site.page("/", "home").page("/deep", "deep page")
    pages = await run(fetcher, site)
    assert pages["/deep"].ok


async def test_links_to_other_sites_are_ignored(fetcher, site):
    with Site("127.0.0.6") as other:
        other.page("/", "another site")
        site.page("/", link(other.url("/"), "/local", "mailto:a@b.c", "javascript:void(0)")).page("/local", "ok")
        pages = await run(fetcher, site)
    assert set(pages) == {"/", "/local"}
    assert other.hits["/"] == 0


async def test_redirect_to_a_private_address_fails_that_page_only(fetcher, site):
    with Site("127.0.0.1") as internal:
        internal.page("/admin", "internal")
        site.page("/", link("/go", "/fine", "/missing")).page("/fine", "fine")
        site.redirect("/go", internal.url("/admin"))
        pages = await run(fetcher, site)
    assert "private or local address" in pages["/go"].error
    assert pages["/go"].html is None
    assert pages["/fine"].ok
    assert pages["/missing"].status == 404 and "HTTP 404" in pages["/missing"].error
    assert internal.hits["/admin"] == 0


async def test_path_rules_apply_to_found_pages(fetcher, site):
    site.page("/", link("/docs/a", "/docs/internal/b", "/blog/c"))
    for path in ("/docs/a", "/docs/internal/b", "/blog/c"):
        site.page(path, path)
    pages = await run(fetcher, site, allowed_paths=["/docs"], disallowed_paths=["docs/internal"])
    assert pages["/docs/a"].ok
    assert "disallowed_paths" in pages["/docs/internal/b"].excluded_reason
    assert "allowed_paths" in pages["/blog/c"].excluded_reason
    assert site.hits["/docs/internal/b"] == site.hits["/blog/c"] == 0


async def test_non_html_pages_are_not_parsed_and_files_are_not_requested(fetcher, site):
    site.page("/", link("/data", "/report.pdf"))
    site.file("/data", '{"a": 1}', content_type="application/json")
    pages = await run(fetcher, site)
    assert pages["/data"].excluded_reason == "not an HTML page (application/json)"
    assert site.hits["/report.pdf"] == 0


async def test_same_content_gives_the_same_hash_and_progress_is_reported(fetcher, site):
    site.page("/", link("/a", "/b")).page("/a", "same words").page("/b", "same words")
    seen = []

    async def on_page(page, done, total):
        seen.append((page.url.removeprefix(site.origin), done, total))

    pages = await run(fetcher, site, on_page=on_page)
    assert pages["/a"].content_hash == pages["/b"].content_hash != pages["/"].content_hash
    assert [s[0] for s in seen] == ["/", "/a", "/b"]
    assert seen[-1][1] == 3 and all(done <= total for _, done, total in seen)


def test_canonical_urls_and_same_site_rules():
    assert canonical_url("HTTP://Example.COM:80#frag") == "http://example.com/"
    assert canonical_url("https://example.com:443/a?b=1#c") == "https://example.com/a?b=1"
    assert canonical_url("ftp://example.com/") is None
    assert site_of("https://www.example.com/x") == site_of("http://example.com/y")
    assert site_of("https://blog.example.com/") != site_of("https://example.com/")
    assert site_of("http://example.com:8080/") != site_of("http://example.com/")
