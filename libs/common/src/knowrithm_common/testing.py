"""Helpers for tests of services: keys, signed gateway assertions, a running app + client, and
a stand-in for the agents service's state query.

Used by the test suites only; nothing here stands in for Postgres, NATS or Redis — tests pass
the URLs of the real embedded servers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from fastapi import FastAPI

from knowrithm_common.events.agents import AgentSnapshot
from knowrithm_common.identity import (
    ASSERTION_HEADER,
    AssertionSigner,
    Principal,
    load_private_key,
)
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import AGENT_STATE_SUBJECT, AgentStateReply, AgentStateRequest


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str

    @classmethod
    def generate(cls) -> KeyPair:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        return cls(private, public)

    def signer(self) -> AssertionSigner:
        return AssertionSigner(load_private_key(self.private_pem))


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def assertion_headers(signer: AssertionSigner, principal: Principal | None = None) -> dict[str, str]:
    """Headers the gateway would add for `principal` (anonymous by default)."""
    return {ASSERTION_HEADER: signer.sign(principal or Principal.anonymous())}


@contextlib.asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an httpx client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


def service_client(
    app_factory: str,
    *,
    env: str,
    scope: str = "module",
    agents_owner: bool = False,
    ready: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> Callable[..., AsyncIterator[httpx.AsyncClient]]:
    """A pytest fixture running a service's app, the one way every suite does it.

    `app_factory` is "module:function" (e.g. "knowrithm_auth.main:create_app"), built inside the
    environment the fixture named `env` returns. The app runs for one test module by default
    (its lifespan starts NATS consumers and pools: once per module, not once per test); tests
    keep apart by using companies of their own. The client has `.app`; with `agents_owner`, the
    agents service's state query answers beside the app (`.agents_owner`, an `AgentsStandIn`).
    `ready`, when given, is awaited once the app runs (e.g. until its consumers subscribed).

        client = service_client("knowrithm_auth.main:create_app", env="auth_env")
    """
    import importlib

    import pytest_asyncio

    @pytest_asyncio.fixture(scope=scope, loop_scope="session")  # type: ignore[call-overload]
    async def client(request: Any) -> AsyncIterator[httpx.AsyncClient]:
        values = request.getfixturevalue(env)
        module, _, name = app_factory.partition(":")
        create_app = getattr(importlib.import_module(module), name)
        with environment(values):
            app = create_app()
        async with running_app(app) as c, contextlib.AsyncExitStack() as stack:
            c.app = app  # type: ignore[attr-defined]
            if agents_owner:
                c.agents_owner = await stack.enter_async_context(agents_stand_in(app.state.nats))  # type: ignore[attr-defined]
            if ready is not None:
                await ready(app)
            yield c

    return client


def gateway_call(
    client: httpx.AsyncClient, signer: AssertionSigner
) -> Callable[..., Awaitable[httpx.Response]]:
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""

    async def call(
        method: str, path: str, principal: Principal | None = None, headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        return await client.request(method, path, headers={**assertion_headers(signer, principal),
                                                             **(headers or {})}, **kw)

    return call


def service_env(
    *,
    database_url: str,
    nats_url: str,
    redis_url: str,
    assertion: KeyPair,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment a service process reads, pointing at real servers."""
    env = {
        "KNOWRITHM_ENV": "test",
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "REDIS_URL": redis_url,
        "KNOWRITHM_ASSERTION_PUBLIC_KEY": assertion.public_pem,
    }
    env.update(extra or {})
    return env



@dataclass
class AgentsStandIn:
    """Answers `rpc.agents.agent.v1` as the agents service would, for the agents it was told of.

    The suites of ingestion and conversations put agents into their projection by applying
    agent events; this plays the other half of the agents service, the state query a projection
    asks when it has not seen an agent. Unknown ids answer "no such agent". `before_answer`, when
    set, runs before each answer (a test lets the agent's event arrive meanwhile).
    """

    agents: dict[uuid.UUID, AgentStateReply] = field(default_factory=dict)
    before_answer: Callable[[uuid.UUID], Awaitable[None]] | None = None
    _responder: RpcResponder[AgentStateRequest, AgentStateReply] | None = None

    def know(self, snapshot: AgentSnapshot, *, version: dt.datetime, deleted: bool = False) -> None:
        self.agents[snapshot.agent_id] = AgentStateReply(agent=snapshot, deleted=deleted, version=version)

    async def start(self, nats: NatsConnection) -> None:
        async def answer(request: AgentStateRequest) -> AgentStateReply:
            if self.before_answer is not None:
                await self.before_answer(request.agent_id)
            return self.agents.get(request.agent_id) or AgentStateReply()

        self._responder = RpcResponder(
            nats=nats, subject=AGENT_STATE_SUBJECT, queue="agents", request=AgentStateRequest, handler=answer
        )
        await self._responder.start()
        await nats.client.flush()  # subscribed at the server before anyone asks

    async def stop(self) -> None:
        """Stop answering (a request then finds no responder: the agents service is down)."""
        if self._responder is not None:
            await self._responder.stop()
            await self._responder.nats.client.flush()
            self._responder = None


@contextlib.asynccontextmanager
async def agents_stand_in(nats: NatsConnection) -> AsyncIterator[AgentsStandIn]:
    """An `AgentsStandIn` answering on `nats` for the duration of a block."""
    owner = AgentsStandIn()
    await owner.start(nats)
    try:
        yield owner
    finally:
        await owner.stop()
