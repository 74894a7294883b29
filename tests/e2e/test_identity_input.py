"""Bad input to identity routes through the gateway: clear errors in the shared shape, nothing half-written."""

import uuid

import pytest

from .accounts import sign_up

pytestmark = pytest.mark.e2e


def _shared_shape(body: dict) -> bool:
    return body["success"] is False and isinstance(body["error"], str) and isinstance(body["message"], str)


async def test_registration_with_missing_fields_names_them_and_writes_nothing(gateway):
    r = await gateway.post("/api/v1/company", json={"name": "Half", "email": f"h-{uuid.uuid4().hex[:8]}@example.com"})
    company_id = r.json()["id"]
    r = await gateway.post("/api/v1/auth/register", json={"company_id": company_id, "email": "x@example.com"})
    assert r.status_code == 422 and _shared_shape(r.json())
    missing = {d["loc"][-1] for d in r.json()["detail"]}
    assert {"username", "password", "first_name", "last_name"} <= missing
    # Nothing was written: the company still takes its first admin.
    tag = uuid.uuid4().hex[:8]
    full = {"company_id": company_id, "email": f"first-{tag}@example.com", "username": f"first_{tag}",
            "password": "SecurePass123!", "first_name": "A", "last_name": "B"}
    assert (await gateway.post("/api/v1/auth/register", json=full)).status_code == 201


async def test_bad_email_and_short_password_are_422(gateway):
    r = await gateway.post("/api/v1/company", json={"name": "Acme", "email": "not-an-email"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "email"
    account = await sign_up(gateway)
    body = {"email": f"n-{uuid.uuid4().hex[:8]}@example.com", "username": f"n_{uuid.uuid4().hex[:8]}",
            "password": "short", "first_name": "N", "last_name": "M"}
    r = await gateway.post("/api/v1/auth/user", json=body, headers=account.auth)
    assert r.status_code == 422 and {d["loc"][-1] for d in r.json()["detail"]} == {"password"}


async def test_unknown_and_malformed_ids_are_404(gateway):
    account = await sign_up(gateway)
    r = await gateway.get(f"/api/v1/user/{uuid.uuid4()}", headers=account.auth)
    assert r.status_code == 404 and _shared_shape(r.json())
    r = await gateway.get("/api/v1/user/not-a-uuid", headers=account.auth)
    assert r.status_code == 404 and _shared_shape(r.json())
    r = await gateway.delete(f"/api/v1/auth/api-keys/{uuid.uuid4()}", headers=account.auth)
    assert r.status_code == 404


async def test_wrong_types_are_422(gateway):
    account = await sign_up(gateway)
    r = await gateway.put("/api/v1/user/profile", json={"first_name": 42, "preferences": "dark"}, headers=account.auth)
    assert r.status_code == 422 and _shared_shape(r.json())
    r = await gateway.post("/api/v1/auth/api-keys", json={"name": "k", "expires_in_days": "soon"}, headers=account.auth)
    assert r.status_code == 422


async def test_malformed_json_is_400(gateway):
    r = await gateway.post("/api/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and _shared_shape(r.json())


async def test_oversized_body_is_413_before_reaching_the_service(gateway):
    r = await gateway.post("/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024),
                           headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert r.json()["detail"] == {"max_bytes": 1024 * 1024}


async def test_missing_credentials_are_401_and_bad_ones_too(gateway):
    assert (await gateway.get("/api/v1/auth/user/me")).status_code == 401
    r = await gateway.get("/api/v1/auth/user/me", headers={"X-API-Key": "ak_only-half"})
    assert r.status_code == 401 and _shared_shape(r.json())
