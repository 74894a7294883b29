"""Gateway tests: the real gateway under uvicorn in front of real upstream HTTP servers.

Each upstream is a small FastAPI app guarded by the shared AssertionMiddleware, so a test
sees exactly what a service would: the principal it verified, the path and headers it got.
Redis is the embedded stack's (`stack` fixture).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from knowrithm_common.identity import AssertionMiddleware, AssertionVerifier
from knowrithm_common.tokens import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    API_KEY_PREFIX,
    API_KEY_RESOLVE_PATH,
    API_SECRET_PREFIX,
    ApiKeyRecord,
    credential_hash,
    key_id,
    public_jwk,
)
from knowrithm_gateway.config import GatewaySettings
from knowrithm_gateway.main import create_app

SERVICES = ("auth", "agents", "conversations", "ingestion", "analytics", "ingestion-worker", "console")
SLOW_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """A uvicorn server on a free 127.0.0.1 port, in its own thread and event loop."""

    def __init__(self, app: Any, **config_options: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
            timeout_graceful_shutdown=1, proxy_headers=False,  # as the launcher runs them
            **config_options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        stop_all([self])


def stop_all(servers: list[ThreadedServer]) -> None:
    """Stop servers together: each takes a tick of uvicorn's main loop (0.1 s) to notice."""
    for running in servers:
        running.server.should_exit = True
    for running in servers:
        running.thread.join(timeout=10)


@dataclass
class UpstreamState:
    """What a test can change or observe on one upstream."""

    name: str
    tasks: set[str] = field(default_factory=set)
    jwks: list[dict[str, str]] = field(default_factory=list)
    jwks_fetches: int = 0
    release_second_event: threading.Event = field(default_factory=threading.Event)
    second_event_sent: bool = False
    stream_closed: threading.Event = field(default_factory=threading.Event)
    # auth's API keys by key hash (ApiKeyRecord JSON), and the key hashes it was asked about
    api_keys: dict[str, str] = field(default_factory=dict)
    resolved: list[str] = field(default_factory=list)


def _openapi(name: str) -> dict[str, Any]:
    # A clashing "Thing" schema per service tests the renaming; HTTPValidationError is shared.
    prefix = {"auth": "auth", "agents": "agent", "conversations": "conversation",
              "ingestion": "document", "analytics": "analytic"}[name]
    op = {"responses": {"200": {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Thing"}}}}}}
    return {
        "openapi": "3.1.0", "info": {"title": name, "version": "0"},
        "paths": {f"/api/v1/{prefix}/thing": {"get": op}, "/health/ready": {"get": op}},
        "components": {"schemas": {
            "Thing": {"type": "object", "title": f"{name} thing"},
            "HTTPValidationError": {"type": "object", "title": "HTTPValidationError"},
        }},
    }


class ResolveRequest(BaseModel):
    """auth's resolve body, parsed the way auth parses it (JSON by content type)."""

    key_hash: str = Field(pattern="^[0-9a-f]{64}$")


def upstream_app(state: UpstreamState, verifier: AssertionVerifier) -> FastAPI:
    """A stand-in service: echoes what it received; a few routes stream, stall or 404."""
    app = FastAPI(openapi_url=None)
    app.add_middleware(AssertionMiddleware, verifier=verifier)

    @app.get("/health/ready")
    async def ready() -> dict[str, Any]:
        checks = {"redis": "ok"} if state.name == "ingestion-worker" else {
            "database": "ok", "nats": "ok", "redis": "ok"}
        return {"status": "ready", "checks": checks}

    @app.get("/openapi.json")
    async def openapi() -> dict[str, Any]:
        return _openapi(state.name)

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        state.jwks_fetches += 1
        return {"keys": state.jwks}

    @app.post(API_KEY_RESOLVE_PATH)
    async def resolve_api_key(body: ResolveRequest, request: Request) -> JSONResponse:
        # auth's contract: the gateway (a "service" principal) asks by key hash; 200 or 404.
        if request.state.principal.kind != "service":
            return JSONResponse({"success": False, "error": "forbidden"}, status_code=403)
        key_hash = body.key_hash
        state.resolved.append(key_hash)
        record = state.api_keys.get(key_hash)
        if record is None:
            return JSONResponse({"success": False, "error": "api_key_not_found"}, status_code=404)
        return JSONResponse(json.loads(record))

    @app.get("/api/v1/tasks/{task_id}/status")
    async def task_status(task_id: str) -> JSONResponse:
        if task_id in state.tasks:
            return JSONResponse({"status": "completed", "owner": state.name, "progress": 100})
        return JSONResponse({"success": False, "error": "not_found"}, status_code=404)

    @app.get("/api/v1/conversation/{conversation_id}/messages/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"data: one\n\n"
                # Held back until the test has seen the first event: proves no buffering.
                # A threading.Event (the test runs on another loop), polled so that a
                # client leaving can cancel this generator.
                while not state.release_second_event.is_set():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                state.second_event_sent = True
                yield b"data: two\n\n"
            finally:
                state.stream_closed.set()

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/api/v1/agent/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(SLOW_SECONDS)
        return {"status": "late"}

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        principal = getattr(request.state, "principal", None)
        return {
            "service": state.name, "method": request.method, "path": request.url.path,
            "query": request.url.query, "body_bytes": len(body),
            "principal": principal.model_dump(mode="json") if principal else None,
            "headers": dict(request.headers),
        }

    return app


@dataclass
class Keys:
    assertion_private_pem: str
    verifier: AssertionVerifier
    jwt_key: Ed25519PrivateKey

    @property
    def kid(self) -> str:
        return key_id(self.jwt_key.public_key())


@pytest.fixture(scope="session")
def keys() -> Keys:
    assertion_key = Ed25519PrivateKey.generate()
    pem = assertion_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return Keys(pem, AssertionVerifier(assertion_key.public_key()), Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def upstreams(keys: Keys) -> Iterator[dict[str, tuple[UpstreamState, ThreadedServer]]]:
    """Every upstream service, started once."""
    running: dict[str, tuple[UpstreamState, ThreadedServer]] = {}
    try:
        for name in SERVICES:
            state = UpstreamState(name)
            if name == "auth":
                state.jwks.append(public_jwk(keys.jwt_key.public_key()))
            running[name] = (state, ThreadedServer(upstream_app(state, keys.verifier)).start())
        yield running
    finally:
        stop_all([server for _, server in running.values()])


# Far above what the suite sends: only the rate-limit tests' own gateways limit anything.
UNLIMITED = {
    "rate_limit_user_per_minute": 1_000_000, "rate_limit_company_per_minute": 1_000_000,
    "rate_limit_anonymous_per_minute": 1_000_000, "rate_limit_auth_per_minute": 1_000_000,
}


def gateway_settings(
    keys: Keys, stack: Any, urls: dict[str, str], **overrides: Any
) -> GatewaySettings:
    """Settings of a test gateway in front of `urls`, on the stack's Redis and NATS."""
    values: dict[str, Any] = {
        "knowrithm_env": "test", "redis_url": stack.redis_url, "nats_url": stack.nats_url,
        "knowrithm_assertion_private_key": keys.assertion_private_pem,
        "auth_url": urls["auth"], "agents_url": urls["agents"],
        "conversations_url": urls["conversations"], "ingestion_url": urls["ingestion"],
        "analytics_url": urls["analytics"], "ingestion_worker_url": urls["ingestion-worker"],
        "console_url": urls["console"],
        "upstream_timeout_seconds": 1.0, "max_body_bytes": 1024 * 1024,
        "jwks_min_refresh_seconds": 0.0, "health_timeout_seconds": 1.0,
        "cors_origins": "https://app.example.com", **UNLIMITED,
        "usage_flush_seconds": 0.1,  # the usage tests wait for the published records
    }
    values.update(overrides)
    return GatewaySettings(**values)


def upstream_urls(upstreams: dict[str, tuple[UpstreamState, ThreadedServer]]) -> dict[str, str]:
    return {name: server.url for name, (_, server) in upstreams.items()}


@pytest.fixture(scope="session")
def gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    """The gateway in front of every upstream (1 s upstream timeout, 1 MiB body limit)."""
    urls = {name: server.url for name, (_, server) in upstreams.items()}
    server = ThreadedServer(create_app(gateway_settings(keys, stack, urls))).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def degraded_gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    """A gateway whose analytics and ingestion-worker upstreams are down (nothing listens)."""
    urls = {name: server.url for name, (_, server) in upstreams.items()}
    urls["analytics"] = f"http://127.0.0.1:{free_port()}"
    urls["ingestion-worker"] = f"http://127.0.0.1:{free_port()}"
    server = ThreadedServer(create_app(gateway_settings(keys, stack, urls))).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def authless_gateway_url(keys: Keys, upstreams: dict[str, Any], stack: Any) -> Iterator[str]:
    """A gateway whose auth upstream (and so the JWKS) is down."""
    urls = {name: server.url for name, (_, server) in upstreams.items()}
    urls["auth"] = f"http://127.0.0.1:{free_port()}"
    settings = gateway_settings(keys, stack, urls, jwks_min_refresh_seconds=60.0)
    server = ThreadedServer(create_app(settings)).start()
    yield server.url
    server.stop()


def gateway_client(url: str, *, scope: str = "module") -> Any:
    """A client fixture on the gateway whose URL the fixture named `url` gives.

    One client per module by default, not per test: creating an httpx client (its TLS context)
    costs ~40 ms, more than most of these tests; the requests carry their own credentials.
    """

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=request.getfixturevalue(url), timeout=10) as http:
            yield http

    return client


client = gateway_client("gateway_url", scope="session")


@pytest.fixture
async def redis(stack: Any) -> AsyncIterator[Redis]:
    connection = Redis.from_url(stack.redis_url)
    yield connection
    await connection.aclose()


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def make_token(keys: Keys) -> TokenFactory:
    """Sign an access token as auth would; keyword arguments override claims."""

    def make(*, key: Ed25519PrivateKey | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ACCESS_TOKEN_ISSUER, "aud": ACCESS_TOKEN_AUDIENCE,
            "sub": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "iat": now, "exp": now + 300,
            "company_id": str(uuid.uuid4()), "role": "admin", "typ": "access",
            "scopes": ["read"],
        }
        claims.update(overrides)
        signing_key = key or keys.jwt_key
        return jwt.encode(
            claims, signing_key, algorithm="EdDSA",
            headers={"kid": key_id(signing_key.public_key())},
        )

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def clear_of_window_edge(window: int = 60, margin: float = 3.0) -> None:
    """Start a burst well inside one fixed rate-limit window, so its requests share it."""
    left = window - time.time() % window
    if left < margin:
        await asyncio.sleep(left + 0.05)


@pytest.fixture
def signed_in(make_token: TokenFactory) -> dict[str, str]:
    """Headers of a signed-in admin of a fresh company."""
    return bearer(make_token())


@dataclass
class IssuedKey:
    """An API key as its owner holds it, and the record auth keeps of it."""

    api_key: str
    api_secret: str
    record: ApiKeyRecord

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key, "X-API-Secret": self.api_secret}

    @property
    def key_hash(self) -> str:
        return credential_hash(self.api_key)


KeyFactory = Callable[..., IssuedKey]


@pytest.fixture
def make_api_key(upstreams: dict[str, tuple[UpstreamState, ThreadedServer]]) -> KeyFactory:
    """Create a key at the stand-in auth (a fresh company and user unless given)."""
    auth = upstreams["auth"][0]

    def make(
        *, scopes: tuple[str, ...] = ("full_access",), role: str = "admin",
        company_id: uuid.UUID | None = None, per_hour: int = 1_000_000, per_day: int = 1_000_000,
        expires_at: float | None = None,
    ) -> IssuedKey:
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        api_secret = API_SECRET_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=uuid.uuid4(), company_id=company_id or uuid.uuid4(), user_id=uuid.uuid4(),
            role=role, scopes=list(scopes), secret_hash=credential_hash(api_secret),
            expires_at=expires_at, rate_limit_per_hour=per_hour, rate_limit_per_day=per_day,
        )
        auth.api_keys[credential_hash(api_key)] = record.model_dump_json()
        return IssuedKey(api_key, api_secret, record)

    return make
