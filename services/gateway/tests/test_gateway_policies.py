"""Operation policies: who may call each declared operation, and the default for the rest."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from knowrithm_gateway.policies import Access, Operation, OperationTable, resource_of
from knowrithm_gateway.routing import ROUTES, RouteTable

from .conftest import bearer

TABLE = OperationTable()
PUBLIC = [op for op in TABLE.declared if op.access is Access.PUBLIC]
GUARDED = [op for op in TABLE.declared if op.access is not Access.PUBLIC]
USER_ONLY = [op for op in TABLE.declared if op.access is Access.USER]


def _id(op: Operation) -> str:
    return f"{op.method} {op.template}"


def fill(template: str) -> str:
    """A concrete path for a template: every `{param}` becomes a fresh id."""
    return re.sub(r"\{[a-z_]+\}", lambda _: str(uuid.uuid4()), template)


def test_every_declared_operation_is_routed_and_names_a_resource() -> None:
    routes = RouteTable()
    for op in TABLE.declared:
        assert routes.match(op.template) is not None, _id(op)
        assert op.resource, _id(op)


def test_every_routed_prefix_names_a_resource_for_per_resource_scopes() -> None:
    for pattern, _, _ in ROUTES:
        assert resource_of(pattern), pattern


def test_an_operation_declared_twice_is_refused() -> None:
    op = TABLE.declared[0]
    with pytest.raises(ValueError, match="declared twice"):
        OperationTable([op, op])


def test_tables_expose_path_parameters_and_tenant_scope() -> None:
    by_id = {_id(op): op for op in TABLE.declared}
    assert by_id["DELETE /api/v1/auth/api-keys/{api_key_id}"].path_params == ("api_key_id",)
    assert by_id["DELETE /api/v1/auth/api-keys/{api_key_id}"].tenant_scoped is True
    assert by_id["GET /api/v1/country/{country_id}"].tenant_scoped is False


@pytest.mark.parametrize("op", PUBLIC, ids=_id)
async def test_public_operation_serves_anonymous_callers(
    client: httpx.AsyncClient, op: Operation
) -> None:
    resp = await client.request(op.method, fill(op.template))
    assert resp.status_code == 200, resp.text
    if op.template.startswith("/api/"):  # the widget script is outside the services' API
        assert resp.json()["principal"]["kind"] == "anonymous"


@pytest.mark.parametrize("op", GUARDED, ids=_id)
async def test_guarded_operation_refuses_anonymous_callers_with_401(
    client: httpx.AsyncClient, op: Operation
) -> None:
    resp = await client.request(op.method, fill(op.template))
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "unauthorized"
    assert resp.json()["success"] is False


@pytest.mark.parametrize("op", USER_ONLY, ids=_id)
async def test_user_only_operation_refuses_api_keys_with_403(
    client: httpx.AsyncClient, make_api_key: Any, op: Operation
) -> None:
    key = make_api_key(scopes=("full_access",), role="admin")
    resp = await client.request(op.method, fill(op.template), headers=key.headers)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"] == "api_key_not_allowed"


ROLE_CASES = [
    ("GET", "/api/v1/admin/user", "user", 403),
    ("GET", "/api/v1/admin/user", "admin", 200),
    ("GET", "/api/v1/admin/user", "super_admin", 200),
    ("PATCH", "/api/v1/user/{user_id}/role", "user", 403),
    ("GET", "/api/v1/super-admin/company", "admin", 403),
    ("GET", "/api/v1/super-admin/company", "super_admin", 200),
    ("DELETE", "/api/v1/company/{company_id}", "admin", 403),
    ("PUT", "/api/v1/company/{company_id}", "admin", 200),
    ("POST", "/api/v1/country", "admin", 403),
    ("POST", "/api/v1/country", "super_admin", 200),
    ("POST", "/api/v1/user/{user_id}/impersonate", "admin", 403),
    ("POST", "/api/v1/user/{user_id}/impersonate", "super_admin", 200),
    ("GET", "/api/v1/admin/system-metric", "user", 403),
    ("GET", "/api/v1/admin/system-metric", "admin", 200),
]


@pytest.mark.parametrize(("method", "template", "role", "status"), ROLE_CASES)
async def test_operation_with_roles_admits_only_those_roles(
    client: httpx.AsyncClient, make_token: Any, method: str, template: str, role: str, status: int
) -> None:
    company = None if role == "super_admin" else str(uuid.uuid4())
    token = make_token(role=role, company_id=company)
    resp = await client.request(method, fill(template), headers=bearer(token))
    assert resp.status_code == status, resp.text
    if status == 403:
        assert resp.json()["error"] == "insufficient_role"


async def test_literal_segment_wins_over_a_path_parameter(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    admin = bearer(make_token(role="admin"))
    # `/company/deleted` is the super admins' list, not a company called "deleted".
    assert (await client.get("/api/v1/company/deleted", headers=admin)).status_code == 403
    assert (await client.patch("/api/v1/company/bulk-restore", headers=admin)).status_code == 403
    company = f"/api/v1/company/{uuid.uuid4()}"
    assert (await client.patch(company, headers=admin)).status_code == 200


SCOPE_CASES = [
    (("read",), "GET", "/api/v1/agent", 200),
    (("read",), "POST", "/api/v1/agent", 403),
    (("read",), "DELETE", "/api/v1/agent/a1", 403),
    (("write",), "DELETE", "/api/v1/agent/a1", 200),  # write also grants update and delete
    (("documents:write",), "POST", "/api/v1/document/upload", 200),
    (("documents:write",), "POST", "/api/v1/agent", 403),  # the scope names another resource
    (("agents:read",), "GET", "/api/v1/sdk/agent/a1", 200),  # sdk/agent is the agents resource
    (("read",), "GET", "/api/v1/admin/user", 403),  # company administration needs "admin"
    (("admin",), "GET", "/api/v1/admin/user", 200),
    (("read",), "GET", "/api/v1/tasks/00000000-0000-4000-8000-000000000138/status", 404),  # admitted; no such task
]


@pytest.mark.parametrize(("scopes", "method", "path", "status"), SCOPE_CASES)
async def test_api_key_needs_the_scope_of_the_operation(
    client: httpx.AsyncClient, make_api_key: Any, scopes: tuple[str, ...], method: str,
    path: str, status: int,
) -> None:
    key = make_api_key(scopes=scopes, role="admin")
    resp = await client.request(method, path, headers=key.headers)
    assert resp.status_code == status, resp.text
    if status == 403:
        assert resp.json()["error"] == "insufficient_scope"


async def test_undeclared_operation_needs_credentials_and_the_method_scope(
    client: httpx.AsyncClient, make_token: Any, make_api_key: Any
) -> None:
    path = "/api/v1/company/c1/banner"  # routed to auth, declared nowhere
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(make_token()))).status_code == 200
    reader = make_api_key(scopes=("read",))
    assert (await client.get(path, headers=reader.headers)).status_code == 200
    denied = await client.delete("/api/v1/website/source/s1", headers=reader.headers)
    assert denied.status_code == 403
    assert denied.json()["error"] == "insufficient_scope"


async def test_public_operation_still_verifies_credentials_sent(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    assert (await client.get("/api/v1/country", headers=bearer("not.a.jwt"))).status_code == 401
    signed_in = await client.get("/api/v1/country", headers=bearer(make_token(role="user")))
    assert signed_in.json()["principal"]["kind"] == "user"


async def test_refresh_forwards_the_opaque_refresh_token_untouched(
    client: httpx.AsyncClient,
) -> None:
    resp = await client.post("/api/v1/auth/refresh", headers=bearer("rt_abc.def-123"))
    assert resp.status_code == 200, resp.text
    echo = resp.json()
    assert echo["headers"]["authorization"] == "Bearer rt_abc.def-123"
    assert echo["principal"]["kind"] == "anonymous"
    # Anywhere else the same header is an access token, and not a valid one.
    login = await client.post("/api/v1/auth/login", headers=bearer("rt_abc.def-123"))
    assert login.status_code == 401


async def test_metrics_label_requests_by_operation_template(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    user_id = uuid.uuid4()
    resp = await client.get(f"/api/v1/admin/user/{user_id}", headers=bearer(make_token()))
    assert resp.status_code == 200
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/admin/user/{user_id}"' in text
    assert str(user_id) not in text
