"""Build a service's FastAPI app the same way everywhere.

`create_service_app` wires the shared parts (logging, tracing, metrics, error shape, the
gateway assertion check, health) and a lifespan that builds the clients (database, Redis,
NATS, outbox relay, consumers) and hands them out through `app.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis
from sqlalchemy import Table

from knowrithm_common.context import RequestContextMiddleware
from knowrithm_common.db.session import Database
from knowrithm_common.errors import install_error_handlers
from knowrithm_common.health import Check, health_router
from knowrithm_common.identity import AssertionMiddleware, AssertionVerifier, load_public_key
from knowrithm_common.inputs import InputGuardMiddleware
from knowrithm_common.logging import configure_logging
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.outbox import OutboxRelay
from knowrithm_common.metrics import PrometheusMiddleware, metrics_endpoint
from knowrithm_common.openapi import install_openapi
from knowrithm_common.settings import BaseServiceSettings
from knowrithm_common.telemetry import setup_tracing

Hook = Callable[[FastAPI], Awaitable[None]]


class Background(Protocol):
    """Work running beside the app for its lifetime: consumers, job workers, RPC responders."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# A domain's `subscribers.py` exports one: what it reacts to (event consumers, job workers,
# RPC responders), built from the running app's clients.
Subscribers = Callable[[FastAPI], Sequence[Background]]


@dataclass
class ServiceSpec:
    """What makes one service different from the others."""

    name: str
    schema: str
    routers: Sequence[APIRouter]
    outbox: Table | None = None
    # Everything the service reacts to, one entry per domain's `subscribers.py`.
    subscribers: Sequence[Subscribers] = field(default_factory=tuple)
    on_startup: Sequence[Hook] = field(default_factory=tuple)
    on_shutdown: Sequence[Hook] = field(default_factory=tuple)
    description: str = ""


def create_service_app(spec: ServiceSpec, settings: BaseServiceSettings) -> FastAPI:
    """A FastAPI app for `spec` with every shared concern wired in."""
    public_pem = settings.knowrithm_assertion_public_key.get_secret_value()
    if not public_pem.strip():
        raise RuntimeError("KNOWRITHM_ASSERTION_PUBLIC_KEY is required (the gateway's public key)")
    verifier = AssertionVerifier(load_public_key(public_pem))
    configure_logging(spec.name)
    setup_tracing(spec.name, settings.otel_exporter_otlp_endpoint)

    app = FastAPI(
        title=f"Knowrithm {spec.name}",
        description=spec.description,
        lifespan=_lifespan(spec, settings),
        version="0.1.0",
        # FastAPI's native tracing makes the server spans; metrics go to Prometheus instead.
        telemetry={"tracing": True, "metrics": False},
    )
    app.state.settings = settings
    install_openapi(app)
    # Outermost last: request id, metrics, the unexpected-error 500, the assertion, then the
    # input guard, which only ever sees callers the gateway vouched for.
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(AssertionMiddleware, verifier=verifier)
    install_error_handlers(app)
    app.add_middleware(PrometheusMiddleware, service=spec.name)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router(lambda: dependency_checks(app)))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in spec.routers:
        app.include_router(router)
    return app


def dependency_checks(app: FastAPI) -> dict[str, Check]:
    """Readiness checks over the clients in `app.state`."""
    state = app.state

    async def redis_ping() -> None:
        await state.redis.ping()

    return {"database": state.db.ping, "nats": state.nats.ping, "redis": redis_ping}


def _lifespan(
    spec: ServiceSpec, settings: BaseServiceSettings
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url, schema=spec.schema, pool_size=settings.db_pool_size)
        redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        nats = NatsConnection(settings.nats_url, name=f"knowrithm-{spec.name}")
        app.state.db, app.state.redis, app.state.nats = db, redis, nats
        await nats.start()
        await nats.wait_connected(timeout=5)
        background: list[Background] = []
        if spec.outbox is not None:
            relay = OutboxRelay(
                db=db,
                table=spec.outbox,
                nats=nats,
                service=spec.name,
                poll_seconds=settings.outbox_poll_seconds,
            )
            app.state.outbox_relay = relay
            background.append(relay)
        for hook in spec.on_startup:
            await hook(app)
        for subscribers in spec.subscribers:
            background.extend(subscribers(app))
        for worker in background:
            await worker.start()
        try:
            yield
        finally:
            # Consumers and workers stop together (each finishes what it holds); the outbox
            # relay last, so what they recorded while stopping is still published.
            relay_last = [w for w in background if w is getattr(app.state, "outbox_relay", None)]
            await asyncio.gather(*(w.stop() for w in reversed(background) if w not in relay_last))
            for worker in relay_last:
                await worker.stop()
            for hook in spec.on_shutdown:
                await hook(app)
            await nats.close()
            await redis.aclose()
            await db.dispose()

    return lifespan
