"""The Website API through the real ingestion app (own database, embedded NATS), with crawls
run by the job handlers against local web sites on 127.0.0.5 (allowlisted for these tests)."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import func, select

from knowrithm_common.events import EventEnvelope
from knowrithm_common.identity import Principal, Role
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_ingestion.models import Document, WebsitePage, shared
from knowrithm_ingestion.websites.jobs import crawl_website, purge_website_source

from .sites import Site
from .support import add_agent, admin, member

FIRST = JobContext(attempt=1, max_attempts=5)
LAST = JobContext(attempt=5, max_attempts=5)
SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


@pytest.fixture
def site():
    with Site("127.0.0.5") as s:
        s.page("/", '<a href="/about">About</a> <a href="/pricing">Pricing</a>', title="Shop")
        s.page("/about", "<h1>About us</h1><p>We sell tea since 1990.</p>", title="About")
        s.page("/pricing", "<p>Green tea costs 4 euros.</p>", title="Pricing")
        yield s


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


async def register(call, principal, agent_id, base_url, **extra):
    return await call("POST", "/api/v1/website/source", principal,
                      json={"agent_id": str(agent_id), "base_url": base_url, **extra})


async def job_for(client, task_id) -> EventEnvelope:
    """The job the API queued in its outbox for `task_id` (run here by calling its handler)."""
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        rows = (await session.execute(select(table.c.envelope).where(table.c.subject.like("jobs.%")))).scalars()
        for envelope in rows:
            if envelope["data"].get("task_id") == str(task_id):
                return EventEnvelope.model_validate(envelope)
    raise AssertionError(f"no job queued for task {task_id}")


async def task(call, principal, task_id):
    r = await call("GET", f"/api/v1/tasks/{task_id}/status", principal)
    assert r.status_code == 200, r.text
    return r.json()


async def pages(call, principal, source_id):
    r = await call("GET", f"/api/v1/website/source/{source_id}/pages", principal)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["website_source"], {p["path"]: p for p in body["pages"]}


async def test_register_answers_the_source_and_queues_a_first_crawl(client, call, company, site):
    company_id, agent_id, boss = company
    r = await register(call, boss, agent_id, site.url("/") + "#top", seed_urls=[site.url("/pricing")],
                       allowed_paths=["docs"], max_pages=100_000, notes="our shop")
    assert r.status_code == 201, r.text
    body = r.json()
    source = body["website_source"]
    assert source["base_url"] == site.url("/")
    assert source["domain"] == "127.0.0.5"
    assert source["company_id"] == str(company_id) and source["agent_id"] == str(agent_id)
    assert source["allowed_paths"] == ["/docs"] and source["max_depth"] == 2
    assert source["max_pages"] == 500  # capped by INGESTION_CRAWL_MAX_PAGES' default
    assert source["is_active"] is True and source["last_crawl_status"] == "crawling"
    assert (await task(call, boss, body["crawl_task_id"]))["kind"] == "crawl_website"
    job = await job_for(client, body["crawl_task_id"])
    assert job.data["website_source_id"] == source["id"]
    assert site.hits["/"] == 0  # registering does not crawl in the request


async def test_same_site_registered_twice_for_an_agent_is_a_conflict(call, company, site):
    _, agent_id, boss = company
    assert (await register(call, boss, agent_id, site.url("/"))).status_code == 201
    r = await register(call, boss, agent_id, f"HTTP://127.0.0.5:{site.port}")
    assert r.status_code == 409 and r.json()["error"] == "website_already_registered"


@pytest.mark.parametrize(("url", "status", "code"), [
    ("ftp://example.com/", 400, "url_not_allowed"),
    ("http://127.0.0.1/", 400, "url_not_allowed"),
    ("http://169.254.169.254/latest/", 400, "url_not_allowed"),
    ("http://no-such-host.invalid/", 400, "website_unreachable"),
])
async def test_register_refuses_urls_that_cannot_be_crawled(call, company, url, status, code):
    _, agent_id, boss = company
    r = await register(call, boss, agent_id, url)
    assert r.status_code == status and r.json()["error"] == code, r.text
    if "127.0.0.1" in url:
        assert r.json()["message"] == (
            "http://127.0.0.1/ points to a private or local address (127.0.0.1); fetching it is not allowed"
        )


async def test_seed_urls_must_be_on_the_same_site(call, company, site):
    _, agent_id, boss = company
    r = await register(call, boss, agent_id, site.url("/"), seed_urls=["https://elsewhere.example/"])
    assert r.status_code == 400 and "not on the web site" in r.json()["message"]


async def test_unknown_or_foreign_agent_answers_404(call, client, company, site):
    _, _, boss = company
    _, foreign_agent = await add_agent(client.app)
    for agent_id in (uuid.uuid4(), foreign_agent):
        r = await register(call, boss, agent_id, site.url("/"))
        assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    r = await call("GET", f"/api/v1/website/agent/{foreign_agent}/sources", boss)
    assert r.status_code == 404


async def test_members_read_admins_write_and_other_companies_see_nothing(call, client, company, site):
    company_id, agent_id, boss = company
    source_id = (await register(call, boss, agent_id, site.url("/"))).json()["website_source"]["id"]
    reader = member(company_id)
    read_key = Principal(kind="api_key", user_id=uuid.uuid4(), company_id=company_id, role=Role.ADMIN,
                         api_key_id=uuid.uuid4(), scopes=["read"])
    assert (await register(call, reader, agent_id, "http://127.0.0.5:1/")).status_code == 403
    assert (await register(call, read_key, agent_id, "http://127.0.0.5:1/")).status_code == 403
    assert (await call("DELETE", f"/api/v1/website/source/{source_id}", reader)).status_code == 403
    for who in (reader, read_key, SUPER):
        listed = (await call("GET", f"/api/v1/website/source?agent_id={agent_id}", who)).json()["website_sources"]
        assert [s["id"] for s in listed] == [source_id]
    by_agent = await call("GET", f"/api/v1/website/agent/{agent_id}/sources", reader)
    assert [s["id"] for s in by_agent.json()["website_sources"]] == [source_id]

    other = admin((await add_agent(client.app))[0])
    assert (await call("GET", "/api/v1/website/source", other)).json()["website_sources"] == []
    for method, path in [("GET", f"/api/v1/website/source/{source_id}/pages"),
                         ("POST", f"/api/v1/website/source/{source_id}/crawl"),
                         ("POST", f"/api/v1/sdk/website/source/{source_id}/crawl"),
                         ("DELETE", f"/api/v1/website/source/{source_id}"),
                         ("DELETE", f"/api/v1/sdk/website/source/{source_id}")]:
        r = await call(method, path, other)
        assert r.status_code == 404 and r.json()["error"] == "website_source_not_found", (method, path)


async def test_crawl_job_records_pages_and_creates_their_documents(client, call, company, site):
    _, _, boss = company
    agent_id = company[1]
    site.page("/pricing", '<p>Green tea costs 4 euros.</p><a href="/gone">old</a>', title="Pricing")
    created = (await register(call, boss, agent_id, site.url("/"))).json()
    source_id, task_id = created["website_source"]["id"], created["crawl_task_id"]
    await crawl_website(client.app.state.deps, await job_for(client, task_id), FIRST)

    status = await task(call, boss, task_id)
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["result"] == {"pages_crawled": 3, "pages_changed": 3, "pages_failed": 1, "pages_excluded": 0}
    source, found = await pages(call, boss, source_id)
    assert source["last_crawl_status"] == "active" and source["last_crawl_completed_at"]
    assert found["/about"]["title"] == "About" and found["/about"]["last_crawl_status"] == "crawled"
    assert found["/about"]["last_http_status"] == 200 and found["/about"]["checksum"] == found["/about"]["content_hash"]
    assert found["/gone"]["last_crawl_status"] == "failed" and "HTTP 404" in found["/gone"]["last_error"]
    async with client.app.state.db.sessions() as session:
        docs = (await session.scalars(select(Document).where(Document.agent_id == agent_id))).all()
    assert sorted(d.source_url for d in docs) == sorted(site.url(p) for p in ("/", "/about", "/pricing"))
    assert {d.source for d in docs} == {"website"}
    assert {d.id for d in docs} == {uuid.UUID(found[p]["document_id"]) for p in ("/", "/about", "/pricing")}


async def test_second_crawl_reprocesses_only_changed_pages(client, call, company, site):
    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()
    source_id = created["website_source"]["id"]
    deps = client.app.state.deps
    await crawl_website(deps, await job_for(client, created["crawl_task_id"]), FIRST)

    site.page("/about", "<h1>About us</h1><p>We sell tea since 1990, and coffee now.</p>", title="About")
    r = await call("POST", f"/api/v1/sdk/website/source/{source_id}/crawl", boss, json={"max_pages": 10})
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["website_source_id"] == source_id
    assert accepted["status_url"] == f"/api/v1/tasks/{accepted['task_id']}/status"
    await crawl_website(deps, await job_for(client, accepted["task_id"]), FIRST)
    result = (await task(call, boss, accepted["task_id"]))["result"]
    assert result["pages_crawled"] == 3 and result["pages_changed"] == 1
    async with deps.db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Document).where(Document.agent_id == agent_id))
    assert count == 3  # the changed page's document was replaced, not duplicated


async def test_crawl_requested_while_one_runs_is_a_conflict(client, call, company, site):
    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()
    source_id = created["website_source"]["id"]
    r = await call("POST", f"/api/v1/website/source/{source_id}/crawl", boss)
    assert r.status_code == 409 and r.json()["error"] == "crawl_in_progress"
    await crawl_website(client.app.state.deps, await job_for(client, created["crawl_task_id"]), FIRST)
    r = await call("POST", f"/api/v1/website/source/{source_id}/crawl", boss)
    assert r.status_code == 202, r.text


async def test_site_redirecting_to_a_private_address_fails_the_crawl_readably(client, call, company):
    _, agent_id, boss = company
    with Site("127.0.0.5") as evil, Site("127.0.0.1") as internal:
        internal.page("/", "internal admin")
        evil.redirect("/", internal.url("/"))
        created = (await register(call, boss, agent_id, evil.url("/"))).json()
        await crawl_website(client.app.state.deps, await job_for(client, created["crawl_task_id"]), FIRST)
    assert internal.hits["/"] == 0
    status = await task(call, boss, created["crawl_task_id"])
    assert status["status"] == "failed" and "private or local address" in status["error"]
    source, found = await pages(call, boss, created["website_source"]["id"])
    assert source["last_crawl_status"] == "failed" and "private or local address" in source["last_error"]
    assert found["/"]["last_crawl_status"] == "failed"


async def test_crawl_failing_on_its_last_attempt_says_so_on_the_task_and_source(client, call, company, site):
    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()

    class Broken:
        async def fetch(self, url, *, accept=None):
            raise RuntimeError("disk on fire")

    deps = dataclasses.replace(client.app.state.deps, fetcher=Broken())
    with pytest.raises(RuntimeError):
        await crawl_website(deps, await job_for(client, created["crawl_task_id"]), LAST)
    status = await task(call, boss, created["crawl_task_id"])
    assert status["status"] == "failed" and "try again later" in status["error"]
    source, _ = await pages(call, boss, created["website_source"]["id"])
    assert source["last_crawl_status"] == "failed"


async def test_delete_hides_the_source_and_the_purge_removes_pages_and_documents(client, call, company, site):
    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()
    source_id = created["website_source"]["id"]
    deps = client.app.state.deps
    await crawl_website(deps, await job_for(client, created["crawl_task_id"]), FIRST)

    r = await call("DELETE", f"/api/v1/website/source/{source_id}", boss)
    assert r.status_code == 202 and r.json()["website_source_id"] == source_id
    assert (await call("GET", f"/api/v1/website/source/{source_id}/pages", boss)).status_code == 404
    listed = (await call("GET", f"/api/v1/website/source?agent_id={agent_id}", boss)).json()["website_sources"]
    assert listed == []
    assert (await call("DELETE", f"/api/v1/sdk/website/source/{source_id}", boss)).status_code == 404

    await purge_website_source(deps, await job_for(client, r.json()["task_id"]), FIRST)
    status = await task(call, boss, r.json()["task_id"])
    assert status["status"] == "completed" and status["result"] == {"pages_deleted": 3, "documents_deleted": 3}
    async with deps.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Document).where(Document.agent_id == agent_id)) == 0
        left = select(func.count()).select_from(WebsitePage).where(WebsitePage.website_source_id == uuid.UUID(source_id))
        assert await session.scalar(left) == 0
    # the site can be registered again once deleted
    assert (await register(call, boss, agent_id, site.url("/"))).status_code == 201


async def test_crawl_of_a_deleted_source_stops_without_adding_pages(client, call, company, site):
    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()
    await call("DELETE", f"/api/v1/website/source/{created['website_source']['id']}", boss)
    await crawl_website(client.app.state.deps, await job_for(client, created["crawl_task_id"]), FIRST)
    status = await task(call, boss, created["crawl_task_id"])
    assert status["status"] == "completed" and "deleted" in status["result"]["skipped"]
    assert site.hits["/"] == 0


# --- the widget handshake -----------------------------------------------------------------


async def handshake(call, agent_id, url, *, origin=None, **extra):
    headers = {"Origin": origin} if origin else {}
    return await call("POST", "/api/v1/website/handshake", None, headers=headers,
                      json={"agent_id": str(agent_id), "url": url, **extra})


async def test_handshake_from_an_allowed_origin_creates_the_source_and_page(client, call, site):
    """The page's origin is a local site, so the crawl it queues never leaves this machine."""
    company_id, agent_id = await add_agent(client.app, widget_config={"allowed_origins": [site.origin + "/"]})
    r = await handshake(call, agent_id, site.url("/tea/green#reviews"), title=" Green tea ",
                        origin=site.origin, trigger_crawl=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["website_source"]["base_url"] == site.url("/")
    assert body["website_source"]["max_depth"] == 1 and body["website_source"]["max_pages"] == 20
    assert body["website_source"]["verified_at"] is not None
    assert body["website_page"]["canonical_url"] == site.url("/tea/green")
    assert body["website_page"]["title"] == "Green tea" and body["website_page"]["last_crawl_status"] == "pending"
    assert body["crawl_task_id"] is not None
    again = (await handshake(call, agent_id, site.url("/tea/black"), trigger_crawl=True)).json()
    assert again["website_source"]["id"] == body["website_source"]["id"]
    assert again["crawl_task_id"] is None  # a crawl started less than an hour ago
    _, found = await pages(call, admin(company_id), body["website_source"]["id"])
    assert set(found) == {"/tea/green", "/tea/black"}


async def test_pages_declared_by_the_widget_are_crawled_next(client, call, site):
    site.page("/unlinked", "<p>Only the widget knows this page.</p>", title="Unlinked")
    company_id, agent_id = await add_agent(client.app, widget_config={"allowed_origins": [site.origin]})
    body = (await handshake(call, agent_id, site.url("/unlinked"), trigger_crawl=True)).json()
    await crawl_website(client.app.state.deps, await job_for(client, body["crawl_task_id"]), FIRST)
    _, found = await pages(call, admin(company_id), body["website_source"]["id"])
    assert found["/unlinked"]["last_crawl_status"] == "crawled" and found["/unlinked"]["document_id"]


async def test_handshake_is_refused_for_origins_the_agent_does_not_allow(client, call):
    _, agent_id = await add_agent(client.app, widget_config={"allowed_origins": ["https://shop.example.com"]})
    r = await handshake(call, agent_id, "https://evil.example.net/")
    assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
    r = await handshake(call, agent_id, "https://shop.example.com/", origin="https://evil.example.net")
    assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
    r = await handshake(call, agent_id, "javascript:alert(1)")
    assert r.status_code == 400


async def test_handshake_is_allowed_on_a_registered_site_and_any_origin_with_a_wildcard(client, call, site):
    company_id, agent_id = await add_agent(client.app)
    await register(call, admin(company_id), agent_id, site.url("/"))
    r = await handshake(call, agent_id, site.url("/about"), origin=site.origin)
    assert r.status_code == 200, r.text
    assert r.json()["website_source"]["base_url"] == site.url("/")
    _, open_agent = await add_agent(client.app, widget_config={"allowed_origins": ["*"]})
    assert (await handshake(call, open_agent, "https://anywhere.example.org/x")).status_code == 200


async def test_handshake_for_an_unknown_or_inactive_agent_answers_404(client, call):
    r = await handshake(call, uuid.uuid4(), "https://shop.example.com/")
    assert r.status_code == 404 and r.json()["error"] == "agent_not_available"
    _, agent_id = await add_agent(client.app, widget_config={"allowed_origins": ["*"]})
    async with client.app.state.db.sessions() as session, session.begin():
        from knowrithm_ingestion.models import AgentView

        (await session.get(AgentView, agent_id)).status = "inactive"
    r = await handshake(call, agent_id, "https://shop.example.com/")
    assert r.status_code == 404 and r.json()["error"] == "agent_not_available"


async def test_registered_site_is_crawled_by_the_worker(client, call, company, site, worker):
    """The whole path: API -> outbox -> JOBS -> worker -> pages and documents."""
    from .support import wait_for

    _, agent_id, boss = company
    created = (await register(call, boss, agent_id, site.url("/"))).json()

    async def finished():
        status = await task(call, boss, created["crawl_task_id"])
        return status if status["status"] in ("completed", "failed") else None

    status = await wait_for(finished, timeout=30)
    assert status["status"] == "completed" and status["result"]["pages_crawled"] == 3
    _, found = await pages(call, boss, created["website_source"]["id"])
    assert all(p["last_crawl_status"] == "crawled" and p["document_id"] for p in found.values())

    async def processed():
        async with client.app.state.db.sessions() as session:
            docs = (await session.scalars(select(Document).where(Document.agent_id == agent_id))).all()
        return docs if docs and all(d.status in ("processed", "failed") for d in docs) else None

    docs = await wait_for(processed, timeout=30)
    assert {d.status for d in docs} == {"processed"}, [d.processing_error for d in docs]
