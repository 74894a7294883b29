"""The gateway's policy table and the services' routes cannot drift (issue 14, Acceptance).

Every public route a service serves has, per method, a declared gateway policy with the same
template (parameter names included: the template is also the metrics and usage label), and
every declared policy names a route that some service serves; the route table sends each public
route to the service that serves it.

Public means what the gateway proxies (`is_proxied`: `/api/...` and the root widget script).
A service's other routes are not routed by the gateway and need no policy: `/internal/...`
(service-to-service calls, such as the gateway's own API-key resolve at auth), `/health/*`,
`/metrics`, its OpenAPI document and docs, and auth's `/.well-known/jwks.json` (the gateway
fetches the keys itself). HEAD is GET's: the gateway looks HEAD up as GET.

The routes are read from each service's real app, built by its own `create_app()` with dummy
but valid settings: building an app connects to nothing (its lifespan, not run here, does).
Product code never imports across services; this test does, on purpose.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from knowrithm_common.crypto import generate_key
from knowrithm_common.testing import KeyPair, environment, service_env
from knowrithm_gateway.policies import AUTHENTICATED, OPERATIONS, Operation, declare
from knowrithm_gateway.proxy import is_proxied
from knowrithm_gateway.routing import PLATFORM_HEALTH, TASK_OWNERS, TASKS, Route, RouteTable

# Each upstream of the route table, by the name the table gives it, and its app factory.
SERVICE_APPS = {
    "auth": "knowrithm_auth.main:create_app",
    "agents": "knowrithm_agents.main:create_app",
    "conversations": "knowrithm_conversations.main:create_app",
    "ingestion": "knowrithm_ingestion.main:create_app",
    "analytics": "knowrithm_analytics.main:create_app",
    "ingestion-worker": "knowrithm_ingestion.worker:create_app",
}

# Public routes a service serves on purpose without a declared policy (they would get the
# default: credentials and the method's scope), each with its reason. None today.
UNDECLARED_ON_PURPOSE: dict[tuple[str, str], str] = {}

Endpoint = tuple[str, str]  # (method, template)
Served = dict[Endpoint, set[str]]  # the services serving each public endpoint


def public_endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, template) the gateway would proxy to this app; HEAD counts as GET."""
    for route in iter_route_contexts(app.routes):
        template = route.path_format  # `{company_id}`, without the `:uuid` convertor
        if template and is_proxied(template):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, template


def served_by(apps: Mapping[str, FastAPI]) -> Served:
    served: Served = {}
    for service, app in apps.items():
        for endpoint in public_endpoints(app):
            served.setdefault(endpoint, set()).add(service)
    return served


def drift(served: Served, operations: Iterable[Operation]) -> list[str]:
    """What differs between the served endpoints and the declared policies, one line each."""
    declared = {(op.method, op.template) for op in operations}
    unmatched = served.keys() - declared - UNDECLARED_ON_PURPOSE.keys()
    return [
        f"{method} {template}: served by {', '.join(sorted(served[method, template]))}, no gateway policy"
        for method, template in sorted(unmatched)
    ] + [
        f"{method} {template}: gateway policy, no service serves it"
        for method, template in sorted(declared - served.keys())
    ]


def misrouted(served: Served, routes: RouteTable) -> list[str]:
    """Served endpoints the route table sends elsewhere (tasks fan out to every task owner)."""
    lines = []
    for (method, template), services in sorted(served.items()):
        route = routes.match(template)
        if not services <= _owners(route):
            lines.append(f"{method} {template}: served by {', '.join(sorted(services))}, "
                         f"routed to {route.service if route else 'nothing'}")
    return lines


def _owners(route: Route | None) -> set[str]:
    if route is None:
        return set()
    return set(TASK_OWNERS) if route.service == TASKS else {route.service}


def gateway_answered(operations: Iterable[Operation]) -> Served:
    """The declared operations the gateway answers itself (platform_health.py): no service serves them."""
    routes = RouteTable()
    return {
        (op.method, op.template): {"gateway"} for op in operations
        if (route := routes.match(op.template)) is not None and route.service == PLATFORM_HEALTH
    }


def _failure(title: str, lines: list[str]) -> str:
    return f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)


@pytest.fixture(scope="module")
def service_apps() -> dict[str, FastAPI]:
    """Every service's app, built (not started) with settings that pass validation."""
    keys = KeyPair.generate()
    unused = "127.0.0.1:9"  # nothing is dialled: the lifespan never runs
    env = service_env(
        database_url=f"postgresql+asyncpg://knowrithm@{unused}/unused", nats_url=f"nats://{unused}",
        redis_url=f"redis://{unused}/0", assertion=keys,
        extra={
            "KNOWRITHM_JWT_PRIVATE_KEY": keys.private_pem,
            "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY": keys.private_pem,
            "ENCRYPTION_KEY": generate_key(),
        },
    )
    apps = {}
    with environment(env):
        for service, factory in SERVICE_APPS.items():
            module, _, name = factory.partition(":")
            apps[service] = getattr(importlib.import_module(module), name)()
    return apps


def test_every_public_service_route_has_a_gateway_policy_and_every_policy_a_route(
    service_apps: dict[str, FastAPI],
) -> None:
    served = served_by(service_apps)
    assert served, "no public routes found: the route reading is broken"
    served.update(gateway_answered(OPERATIONS))
    lines = drift(served, OPERATIONS)
    assert not lines, _failure("gateway policies and service routes differ", lines)
    declared = {(op.method, op.template) for op in OPERATIONS}
    stale = {e for e in UNDECLARED_ON_PURPOSE if e in declared or e not in served}
    assert not stale, f"no longer served, or declared now: drop them from UNDECLARED_ON_PURPOSE: {stale}"


def test_every_public_service_route_is_routed_to_the_service_that_serves_it(
    service_apps: dict[str, FastAPI],
) -> None:
    routes = RouteTable()
    assert routes.services() <= service_apps.keys(), "a routed service is missing from SERVICE_APPS"
    lines = misrouted(served_by(service_apps), routes)
    assert not lines, _failure("the route table sends these elsewhere", lines)


def _fake_service() -> FastAPI:
    """A service with one declared route (under a router prefix, with a convertor), one
    undeclared route, and routes the gateway does not proxy."""
    router = APIRouter(prefix="/api/v1/agent")

    @router.get("/{agent_id:uuid}")
    async def read() -> None: ...

    @router.api_route("/{agent_id}/secret", methods=["GET", "HEAD"])
    async def secret() -> None: ...

    app = FastAPI()
    app.include_router(router)
    app.add_api_route("/internal/v1/agents/sync", read, methods=["POST"])
    app.add_api_route("/health/ready", read)
    return app


(READ,) = declare(AUTHENTICATED, table="GET /agent/{agent_id}")
(SECRET,) = declare(AUTHENTICATED, table="GET /agent/{agent_id}/secret")


@pytest.mark.parametrize(("operations", "expected"), [
    pytest.param((READ, SECRET), [], id="in-step"),
    pytest.param((READ,), ["GET /api/v1/agent/{agent_id}/secret: served by agents, no gateway policy"],
                 id="route-without-policy"),
    pytest.param((READ, SECRET, *declare(AUTHENTICATED, table="DELETE /agent/{agent_id}")),
                 ["DELETE /api/v1/agent/{agent_id}: gateway policy, no service serves it"],
                 id="policy-without-route"),
    pytest.param((*declare(AUTHENTICATED, table="GET /agent/{id}"), SECRET), [
        "GET /api/v1/agent/{agent_id}: served by agents, no gateway policy",
        "GET /api/v1/agent/{id}: gateway policy, no service serves it",
    ], id="parameter-renamed"),
])
def test_drift_names_each_route_or_policy_that_has_no_counterpart(
    operations: tuple[Operation, ...], expected: list[str]
) -> None:
    assert drift(served_by({"agents": _fake_service()}), operations) == expected


def test_a_route_served_by_another_service_than_the_table_routes_to_is_named() -> None:
    served = served_by({"analytics": _fake_service()})
    assert misrouted(served, RouteTable()) == [
        "GET /api/v1/agent/{agent_id}: served by analytics, routed to agents",
        "GET /api/v1/agent/{agent_id}/secret: served by analytics, routed to agents",
    ]
