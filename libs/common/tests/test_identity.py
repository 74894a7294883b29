import uuid

import httpx
import pytest
from fastapi import Depends, FastAPI

from knowrithm_common.errors import Unauthorized, install_error_handlers
from knowrithm_common.identity import (
    AssertionMiddleware,
    AssertionSigner,
    AssertionVerifier,
    Principal,
    Role,
    current_principal,
    load_private_key,
    load_public_key,
    require_roles,
    require_scopes,
)
from knowrithm_common.testing import KeyPair, assertion_headers

KEYS = KeyPair.generate()
OTHER = KeyPair.generate()


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(AssertionMiddleware, verifier=AssertionVerifier(load_public_key(KEYS.public_pem)))

    @app.get("/health/live")
    async def live() -> dict:
        return {"status": "alive"}

    @app.get("/api/v1/whoami")
    async def whoami(p: Principal = Depends(current_principal)) -> dict:
        return p.model_dump(mode="json")

    @app.get("/api/v1/admin-only")
    async def admin(p: Principal = Depends(require_roles(Role.ADMIN))) -> dict:
        return {"ok": True}

    @app.get("/api/v1/writes")
    async def writes(p: Principal = Depends(require_scopes(["write"]))) -> dict:
        return {"ok": True}

    return app


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://svc")


async def test_api_request_without_assertion_is_401_shared_shape():
    async with _client() as c:
        r = await c.get("/api/v1/whoami")
    assert r.status_code == 401
    assert r.json()["success"] is False and r.json()["error"] == "unauthorized"


async def test_assertion_signed_by_another_key_is_401():
    async with _client() as c:
        r = await c.get("/api/v1/whoami", headers=assertion_headers(OTHER.signer()))
    assert r.status_code == 401


async def test_health_needs_no_assertion():
    async with _client() as c:
        assert (await c.get("/health/live")).status_code == 200


async def test_principal_reaches_the_route():
    company = uuid.uuid4()
    principal = Principal(kind="user", company_id=company, role=Role.ADMIN, user_id=uuid.uuid4())
    async with _client() as c:
        r = await c.get("/api/v1/whoami", headers=assertion_headers(KEYS.signer(), principal))
    assert r.status_code == 200 and r.json()["company_id"] == str(company)


async def test_role_check_forbids_plain_users():
    user = Principal(kind="user", company_id=uuid.uuid4(), role=Role.USER)
    async with _client() as c:
        r = await c.get("/api/v1/admin-only", headers=assertion_headers(KEYS.signer(), user))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_api_key_without_scope_is_403_and_with_scope_passes():
    base = {"kind": "api_key", "company_id": uuid.uuid4(), "role": Role.USER}
    async with _client() as c:
        r1 = await c.get("/api/v1/writes", headers=assertion_headers(KEYS.signer(), Principal(**base, scopes=["read"])))
        r2 = await c.get("/api/v1/writes", headers=assertion_headers(KEYS.signer(), Principal(**base, scopes=["read", "write"])))
    assert (r1.status_code, r2.status_code) == (403, 200)


def test_expired_assertion_is_refused():
    signer = AssertionSigner(load_private_key(KEYS.private_pem), ttl_seconds=-5)
    token = signer.sign(Principal.anonymous())
    with pytest.raises(Unauthorized):
        AssertionVerifier(load_public_key(KEYS.public_pem)).verify(token)
