"""The chat widget at the gateway: its routes, and the stream token a browser's EventSource sends.

An EventSource cannot send headers, so a lead-allowed `GET …/messages/stream` also takes the
Bearer token as `?access_token=`. Only there: any other operation ignores the parameter. The
upstream never sees it. The gateway under test runs a test-only operation table (the echo
upstream answers with what it received, query string included).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from knowrithm_common.leadtokens import LeadTokenSigner
from knowrithm_gateway.main import create_app
from knowrithm_gateway.policies import AUTHENTICATED, OperationTable, declare
from knowrithm_gateway.routing import RouteTable

from .conftest import Keys, ThreadedServer, bearer, gateway_client, gateway_settings, upstream_urls

STREAM = "/api/v1/lead/{id}/messages/stream"  # routed to conversations; the echo upstream answers
OPERATIONS = (
    *declare(AUTHENTICATED, lead=True, table="""
        GET  /lead/{lead_id}/messages/stream
        POST /lead/{lead_id}/messages/stream
        GET  /lead/{lead_id}/messages
    """),
    *declare(AUTHENTICATED, table="GET /sdk/lead/{lead_id}/messages/stream"),  # a stream that does not admit leads
)


def _key_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return private, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


LEAD_PRIVATE, LEAD_PUBLIC = _key_pair()


def lead_token() -> tuple[str, Any]:
    return LeadTokenSigner(LEAD_PRIVATE, ttl_seconds=600).mint(
        lead_id=uuid.uuid4(), company_id=uuid.uuid4(), agent_id=uuid.uuid4(), conversation_id=uuid.uuid4(),
    )


@pytest.fixture(scope="module")
def widget_gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    settings = gateway_settings(keys, stack, upstream_urls(upstreams), knowrithm_lead_token_public_key=LEAD_PUBLIC)
    app = create_app(settings)
    app.state.runtime.operations = OperationTable(OPERATIONS)
    server = ThreadedServer(app).start()
    yield server.url
    server.stop()


widget_gateway = gateway_client("widget_gateway_url")


@pytest.mark.parametrize(("path", "service"), [
    ("/api/v1/agent/a1/test", "conversations"),
    ("/api/v1/agent/a1", "agents"),
    ("/api/v1/agent/a1/clone", "agents"),
    ("/api/v1/agent/a1/test/more", "agents"),
    ("/api/v1/agent/by-name/test", "agents"),
    ("/api/v1/widget/agent/a1", "conversations"),
    ("/api/v1/test", "conversations"),
    ("/api/v1/test/page/t0ken", "conversations"),
    ("/widget.js", "conversations"),
    ("/api/v1/widget.js", "conversations"),
])
def test_widget_and_agent_test_paths_reach_their_owning_service(path: str, service: str) -> None:
    route = RouteTable().match(path)
    assert route is not None and route.service == service, route


async def test_agent_test_goes_to_conversations_through_the_gateway(
    client: httpx.AsyncClient, signed_in: dict[str, str]
) -> None:
    resp = await client.post("/api/v1/agent/a1/test", json={"query": "hi"}, headers=signed_in)
    assert resp.status_code == 200 and resp.json()["service"] == "conversations"
    widget = await client.get("/api/v1/widget/agent/a1")  # public: no credentials
    assert widget.status_code == 200 and widget.json()["service"] == "conversations"


async def test_stream_takes_the_lead_token_from_the_query_and_never_forwards_it(
    widget_gateway: httpx.AsyncClient,
) -> None:
    token, claims = lead_token()
    resp = await widget_gateway.get(STREAM.format(id=claims.sub), params={"since": "5", "access_token": token})
    assert resp.status_code == 200, resp.text
    seen = resp.json()
    assert seen["principal"]["kind"] == "lead" and seen["principal"]["lead_id"] == str(claims.sub)
    assert seen["query"] == "since=5" and token not in str(seen)


async def test_a_user_token_in_the_query_works_on_the_stream_too(
    widget_gateway: httpx.AsyncClient, make_token: Any
) -> None:
    resp = await widget_gateway.get(STREAM.format(id="x"), params={"access_token": make_token()})
    assert resp.status_code == 200 and resp.json()["principal"]["kind"] == "user"
    assert resp.json()["query"] == ""


async def test_the_header_wins_and_a_query_token_beside_it_is_still_cut(widget_gateway: httpx.AsyncClient) -> None:
    token, claims = lead_token()
    resp = await widget_gateway.get(STREAM.format(id="x"), params={"access_token": "junk"}, headers=bearer(token))
    assert resp.status_code == 200 and resp.json()["principal"]["lead_id"] == str(claims.sub)
    assert "junk" not in resp.json()["query"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/lead/x/messages"),  # not a stream
    ("POST", STREAM.format(id="x")),  # not a GET
    ("GET", "/api/v1/sdk/lead/x/messages/stream"),  # a stream that does not admit leads
])
async def test_a_query_token_anywhere_else_is_ignored(
    widget_gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    token, _ = lead_token()
    resp = await widget_gateway.request(method, path, params={"access_token": token})
    assert resp.status_code == 401 and resp.json()["error"] == "unauthorized", resp.text


async def test_a_bad_query_token_gets_the_same_401_as_a_bad_header(widget_gateway: httpx.AsyncClient) -> None:
    forged = LeadTokenSigner(_key_pair()[0], ttl_seconds=600).mint(
        lead_id=uuid.uuid4(), company_id=uuid.uuid4(), agent_id=uuid.uuid4(), conversation_id=None,
    )[0]
    resp = await widget_gateway.get(STREAM.format(id="x"), params={"access_token": forged})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"
