"""Web sites through the gateway: register a source, the crawl follows the site (not robots.txt's
disallowed pages, not other sites), its pages become searchable; deleting the source removes them."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from knowrithm_ingestion.testing import samples

from .knowledge import search, trained_agent
from .site import serve

pytestmark = pytest.mark.e2e


def html(title: str, text: str, links: tuple[str, ...] = ()) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, samples.make_html(title=title, paragraphs=[text],
                                                                                 links=links)


async def wait_task(gateway, account, task_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = (await gateway.get(f"/api/v1/tasks/{task_id}/status", headers=account.auth)).json()
        if task["status"] in ("completed", "failed"):
            return task
        await asyncio.sleep(0.3)
    raise AssertionError(f"task {task_id} still running after {timeout}s")


async def wait_found(gateway, account, query: str, agent_id: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        results = await search(gateway, account, query, agent_id)
        if results and query.split()[1] in results[0]["content"]:
            return results
        await asyncio.sleep(0.5)
    raise AssertionError(f"{query!r} never became searchable")


async def test_a_crawled_site_becomes_searchable_and_leaves_with_its_source(gateway):
    account, agent_id = await trained_agent(gateway)
    tag = uuid.uuid4().hex[:6]
    about = f"Quokka {tag} rentals open at eight on weekdays"
    secret = f"Narwhal {tag} staff salaries are confidential"
    routes = {
        "/": html("Home", "Welcome to our shop.", links=("/about", "/private", "http://127.0.0.9/elsewhere")),
        "/about": html("About", about),
        "/private": html("Private", secret),
        "/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private\n"),
    }
    with serve(routes) as (base, hits):
        r = await gateway.post("/api/v1/website/source", headers=account.auth,
                               json={"agent_id": agent_id, "base_url": f"{base}/", "max_depth": 2, "max_pages": 10})
        assert r.status_code == 201, r.text
        source, task_id = r.json()["website_source"], r.json()["crawl_task_id"]
        task = await wait_task(gateway, account, task_id)
    assert task["status"] == "completed", task
    assert hits["/private"] == 0

    pages = (await gateway.get(f"/api/v1/website/source/{source['id']}/pages", headers=account.auth)).json()
    crawled = {p["path"]: p["last_crawl_status"] for p in pages["pages"]}
    assert crawled.get("/") == "crawled" and crawled.get("/about") == "crawled", crawled
    assert crawled.get("/private") in (None, "excluded"), crawled

    results = await wait_found(gateway, account, about, agent_id)
    assert results[0]["source_url"].endswith("/about")
    assert all("Narwhal" not in r["content"] for r in await search(gateway, account, secret, agent_id))

    r = await gateway.delete(f"/api/v1/website/source/{source['id']}", headers=account.auth)
    assert r.status_code == 202, r.text
    assert (await wait_task(gateway, account, r.json()["task_id"]))["status"] == "completed"
    assert await search(gateway, account, about, agent_id) == []
    listed = (await gateway.get("/api/v1/website/source", headers=account.auth)).json()["website_sources"]
    assert listed == []


async def test_the_widget_handshake_is_public_but_only_for_the_agents_own_sites(gateway):
    account, agent_id = await trained_agent(gateway)
    r = await gateway.put(f"/api/v1/agent/{agent_id}", headers=account.auth,
                          json={"widget_config": {"allowed_origins": ["https://shop.example.com"]}})
    assert r.status_code == 200, r.text

    async def handshake(url: str):
        return await gateway.post("/api/v1/website/handshake", json={"agent_id": agent_id, "url": url,
                                                                     "title": "Shop"})

    deadline = time.monotonic() + 20
    while (r := await handshake("https://shop.example.com/help")).status_code != 200:
        assert time.monotonic() < deadline, r.text  # until ingestion has the agent's new widget config
        await asyncio.sleep(0.3)
    body = r.json()
    assert body["website_source"]["domain"] == "shop.example.com" and body["website_page"]["path"] == "/help"
    refused = await handshake("https://evil.example.net/")
    assert refused.status_code == 403 and refused.json()["error"] == "origin_not_allowed"
    unknown = await gateway.post("/api/v1/website/handshake", json={"agent_id": str(uuid.uuid4()),
                                                                    "url": "https://shop.example.com/"})
    assert unknown.status_code == 404
