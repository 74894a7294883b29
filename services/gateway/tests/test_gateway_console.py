"""The web console under /console: passed through without API credentials, with the client's address.

The console stand-in here echoes what reached it; the real console runs in the e2e suites
(tests/e2e/test_console*.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from knowrithm_common.identity import ASSERTION_HEADER
from knowrithm_gateway.main import create_app

from .conftest import Keys, ThreadedServer, free_port, gateway_settings, upstream_urls


def _console_stand_in() -> FastAPI:
    app = FastAPI(openapi_url=None)

    @app.api_route("/console/{rest:path}", methods=["GET", "POST"])
    async def echo(rest: str, request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        response = JSONResponse({"path": request.url.path, "query": request.url.query, "body": body,
                                 "headers": dict(request.headers)})
        response.set_cookie("knowrithm_console", "opaque", httponly=True, samesite="strict", path="/console")
        return response

    return app


@pytest.fixture(scope="module")
def console_stand_in() -> Iterator[str]:
    server = ThreadedServer(_console_stand_in()).start()
    yield server.url
    server.stop()


def _gateway(keys: Keys, upstreams: Any, stack: Any, console_url: str, **options: Any) -> ThreadedServer:
    urls = {**upstream_urls(upstreams), "console": console_url}
    return ThreadedServer(create_app(gateway_settings(keys, stack, urls, **options))).start()


async def test_console_pages_pass_without_credentials_and_carry_the_client_address_but_no_assertion(
    keys: Keys, upstreams: Any, stack: Any, console_stand_in: str
) -> None:
    gateway = _gateway(keys, upstreams, stack, console_stand_in)
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            r = await http.post("/console/sign-in?x=1", data={"email": "a@example.com"}, headers={
                ASSERTION_HEADER: "forged", "X-Forwarded-For": "203.0.113.7", "x-knowrithm-client-ip": "203.0.113.8",
            })
    finally:
        gateway.stop()
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["path"], seen["query"], seen["body"]) == ("/console/sign-in", "x=1", "email=a%40example.com")
    assert ASSERTION_HEADER not in seen["headers"]  # the console takes no identity from the gateway
    assert seen["headers"]["x-knowrithm-client-ip"] == "127.0.0.1"  # not a trusted proxy: its XFF is ignored
    assert "HttpOnly" in r.headers["set-cookie"]  # the console's cookie reaches the browser


async def test_behind_a_trusted_proxy_the_console_learns_the_browsers_address(
    keys: Keys, upstreams: Any, stack: Any, console_stand_in: str
) -> None:
    gateway = _gateway(keys, upstreams, stack, console_stand_in, trusted_proxies="127.0.0.1/32")
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            r = await http.get("/console/", headers={"X-Forwarded-For": "198.51.100.4"})
    finally:
        gateway.stop()
    assert r.json()["headers"]["x-knowrithm-client-ip"] == "198.51.100.4"


async def test_the_bare_console_path_and_mailed_links_redirect_to_the_console_pages(
    keys: Keys, upstreams: Any, stack: Any, console_stand_in: str
) -> None:
    gateway = _gateway(keys, upstreams, stack, console_stand_in)
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            bare = await http.get("/console")
            verify = await http.get("/verify?token=abc%2Bdef")
            reset = await http.get("/reset-password?token=xyz")
    finally:
        gateway.stop()
    assert (bare.status_code, bare.headers["location"]) == (308, "/console/")
    assert (verify.status_code, verify.headers["location"]) == (303, "/console/verify?token=abc%2Bdef")
    assert (reset.status_code, reset.headers["location"]) == (303, "/console/reset-password?token=xyz")


async def test_a_console_that_is_down_answers_an_html_503_page(keys: Keys, upstreams: Any, stack: Any) -> None:
    gateway = _gateway(keys, upstreams, stack, f"http://127.0.0.1:{free_port()}")
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            r = await http.get("/console/")
    finally:
        gateway.stop()
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "The console service is unavailable" in r.text
