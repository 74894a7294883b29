import asyncio

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from knowrithm_common.errors import NotFound, RateLimited, install_error_handlers


class Item(BaseModel):
    name: str
    count: int


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("Agent not found")

    @app.get("/limited")
    async def limited() -> None:
        raise RateLimited(retry_after=7)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    return app


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(), raise_app_exceptions=False), base_url="http://t"
    )


async def test_domain_error_renders_shared_shape_with_its_status():
    async with await _client() as c:
        r = await c.get("/missing")
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": "not_found", "message": "Agent not found"}


async def test_rate_limit_carries_retry_after():
    async with await _client() as c:
        r = await c.get("/limited")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"


async def test_malformed_json_is_400_invalid_json():
    async with await _client() as c:
        r = await c.post("/items", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_wrong_types_are_422_with_field_detail():
    async with await _client() as c:
        r = await c.post("/items", json={"name": "x", "count": "many"})
    body = r.json()
    assert r.status_code == 422 and body["error"] == "validation_error"
    assert body["detail"][0]["loc"] == ["body", "count"]


async def test_unknown_route_is_404_in_shared_shape_naming_the_operation():
    async with await _client() as c:
        r = await c.get("/nowhere")
    assert r.status_code == 404 and r.json()["success"] is False
    assert r.json()["error"] == "not_found"
    assert r.json()["message"] == "This platform has no operation GET /nowhere"


async def test_unexpected_error_is_500_without_internals():
    async with await _client() as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error" and "secret" not in r.text


async def test_unexpected_error_is_500_that_keeps_the_pooled_connection():
    """The next request on the same pooled connection (another tenant's, at the gateway) works."""
    import aiohttp
    import uvicorn

    app = _app()
    peers: list[int] = []

    @app.middleware("http")
    async def remember_peer(request, call_next):
        peers.append(request.client.port)
        return await call_next(request)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    serving = asyncio.ensure_future(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as pool:
            async with pool.get(f"http://127.0.0.1:{port}/boom") as failed:
                assert failed.status == 500
                assert (await failed.json())["error"] == "internal_error"
                assert "close" not in failed.headers.get("connection", "")
            async with pool.post(f"http://127.0.0.1:{port}/items", json={"name": "n", "count": 1}) as ok:
                assert ok.status == 200
        assert len(peers) == 2 and peers[0] == peers[1]  # one connection served both
    finally:
        server.should_exit = True
        await serving


async def test_exception_after_the_response_started_still_cuts_the_connection():
    """A half-sent response cannot be repaired: the error goes on so the server ends it."""
    from knowrithm_common.errors import UnexpectedErrorMiddleware

    async def half(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-response")

    sent: list[dict] = []

    async def record(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    with pytest.raises(RuntimeError):
        await UnexpectedErrorMiddleware(half)(scope, receive, record)
    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_unknown_reference_in_a_write_is_422_naming_the_constraint(lib_database_url):
    """The safety net: a foreign-key violation no service checked becomes a 422, not a 500."""
    from sqlalchemy import text

    from knowrithm_common.db.session import Database

    db = Database(lib_database_url, schema="libtest")
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "CREATE TABLE IF NOT EXISTS libtest.parents (id int PRIMARY KEY);"
            "CREATE TABLE IF NOT EXISTS libtest.children (id int PRIMARY KEY, name text UNIQUE,"
            " parent_id int CONSTRAINT fk_children_parent REFERENCES libtest.parents(id))"
        ))
    app = _app()

    @app.post("/children/{child_id}")
    async def add_child(child_id: int, parent_id: int) -> dict:
        async with db.session() as s, s.begin():
            await s.execute(text("INSERT INTO libtest.children VALUES (:i, :n, :p)"),
                            {"i": child_id, "n": f"c{child_id}", "p": parent_id})
        return {}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/children/1?parent_id=424242")
        assert r.status_code == 422
        assert r.json()["error"] == "unknown_reference"
        assert r.json()["detail"]["constraint"] == "fk_children_parent"
    finally:
        await db.dispose()
