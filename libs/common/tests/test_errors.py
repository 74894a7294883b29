import httpx
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
