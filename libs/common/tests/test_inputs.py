"""Text no service can store: NUL characters answer 422 naming the field, non-UTF-8 bodies 400."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel

from knowrithm_common.errors import install_error_handlers
from knowrithm_common.inputs import InputGuardMiddleware, read_form


class Item(BaseModel):
    name: str
    tags: dict[str, Any] = {}


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(InputGuardMiddleware)
    install_error_handlers(app)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        # Like auth's company sign-up: the body read and parsed by hand.
        return {"got": json.loads(await request.body())}

    @app.get("/things/{name}")
    async def thing(name: str, q: str = "") -> dict[str, str]:
        return {"name": name, "q": q}

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        data = await read_form(request)
        return {"fields": sorted(data.keys())}

    return app


async def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def _json(body: str) -> dict[str, Any]:
    return {"content": body.encode(), "headers": {"content-type": "application/json"}}


async def test_nul_in_a_json_value_or_key_returns_422_naming_the_field():
    async with await _client() as c:
        value = await c.post("/items", **_json('{"name": "a", "tags": {"x": ["ok", "b\\u0000d"]}}'))
        key = await c.post("/raw", **_json('{"na\\u0000me": "a"}'))
    assert value.status_code == 422 and value.json()["error"] == "validation_error"
    assert value.json()["detail"] == [{
        "loc": ["body", "tags", "x", 1], "msg": "NUL characters (\\u0000) are not allowed",
        "type": "nul_character",
    }]
    assert "body.tags.x.1" in value.json()["message"]
    assert key.status_code == 422 and key.json()["detail"][0]["loc"] == ["body", "na\x00me"]


async def test_escaped_backslash_and_surrogate_pairs_pass_while_a_lone_surrogate_is_422():
    async with await _client() as c:
        literal = await c.post("/items", **_json('{"name": "C:\\\\u0000 and \\ud83d\\ude00"}'))
        lone = await c.post("/items", **_json('{"name": "half \\ud83d"}'))
    assert literal.status_code == 200 and literal.json()["name"] == "C:\\u0000 and \U0001F600"
    assert lone.status_code == 422 and lone.json()["detail"][0]["type"] == "unpaired_surrogate"


async def test_nul_in_query_or_path_parameter_returns_422_naming_it():
    async with await _client() as c:
        query = await c.get("/things/ok?q=a%00b")
        path = await c.get("/things/a%00b")
        clean = await c.get("/things/ok?q=fine")
    assert query.status_code == 422 and query.json()["detail"][0]["loc"] == ["query", "q"]
    assert path.status_code == 422 and path.json()["detail"][0]["loc"] == ["path", "name"]
    assert clean.json() == {"name": "ok", "q": "fine"}


async def test_body_that_is_not_utf8_returns_400_on_hand_read_and_model_routes():
    latin1 = '{"name": "Caf\u00e9"}'.encode("latin-1")
    async with await _client() as c:
        by_hand = await c.post("/raw", content=latin1, headers={"content-type": "application/json"})
        no_type = await c.post("/items", content=latin1)
        good = await c.post("/raw", **_json('{"name": "Caf\u00e9"}'))
    assert by_hand.status_code == 400 and by_hand.json()["error"] == "invalid_encoding"
    assert no_type.status_code == 400 and no_type.json()["error"] == "invalid_encoding"
    assert good.status_code == 200 and good.json()["got"]["name"] == "Caf\u00e9"


async def test_nul_in_form_fields_returns_422_but_binary_files_pass():
    async with await _client() as c:
        urlencoded = await c.post("/form", data={"name": "a\x00b"})
        multipart = await c.post("/form", data={"name": "a\x00b"}, files={"file": ("f.bin", b"\x00\x01")})
        binary = await c.post("/form", data={"name": "ok"}, files={"file": ("f.bin", b"\x00\x01")})
    assert urlencoded.status_code == 422 and urlencoded.json()["detail"][0]["loc"] == ["body", "name"]
    assert multipart.status_code == 422 and multipart.json()["detail"][0]["loc"] == ["body", "name"]
    assert binary.status_code == 200 and binary.json()["fields"] == ["file", "name"]
