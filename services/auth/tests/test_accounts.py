import uuid

import jwt
from sqlalchemy import select

from knowrithm_auth.models import Company, shared
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import ACCESS_TOKEN_AUDIENCE

from .conftest import SUPER_ADMIN


def _company(**over):
    tag = uuid.uuid4().hex[:10]
    return {"name": f"Acme {tag}", "email": f"contact-{tag}@example.com", "phone": "+1-555-0100", **over}


def _user(company_id, **over):
    tag = uuid.uuid4().hex[:10]
    return {
        "company_id": company_id, "email": f"u-{tag}@example.com", "username": f"user_{tag}",
        "password": "SecurePass123!", "first_name": "Ada", "last_name": "Lovelace", **over,
    }


async def test_company_signup_writes_company_and_its_event_in_one_transaction(client, signer):
    r = await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))
    assert r.status_code == 201
    company_id = uuid.UUID(r.json()["id"])
    async with client.app.state.db.sessions() as s:
        company = await s.get(Company, company_id)
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    assert company is not None and company.name == r.json()["name"]
    mine = [e for e in envelopes if e["data"].get("company_id") == str(company_id)]
    assert [e["type"] for e in mine] == ["auth.company.created.v1"]


async def test_company_signup_accepts_form_data(client, signer):
    data = _company()
    r = await client.post("/api/v1/company", data=data, headers=assertion_headers(signer))
    assert r.status_code == 201 and r.json()["email"] == data["email"]


async def test_duplicate_company_email_is_409_and_writes_no_event(client, signer):
    body = _company()
    await client.post("/api/v1/company", json=body, headers=assertion_headers(signer))
    r = await client.post("/api/v1/company", json={**body, "name": "Other"}, headers=assertion_headers(signer))
    assert r.status_code == 409 and r.json()["error"] == "company_exists"
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    assert sum(e["data"].get("email") == body["email"] for e in envelopes) == 1


async def test_company_with_bad_email_is_422_with_the_field(client, signer):
    r = await client.post("/api/v1/company", json=_company(email="not-an-email"), headers=assertion_headers(signer))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["email"]


async def test_register_then_login_issues_verifiable_tokens(client, signer):
    company = (await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))).json()
    body = _user(company["id"])
    r = await client.post("/api/v1/auth/register", json=body, headers=assertion_headers(signer))
    assert r.status_code == 201 and r.json()["user"]["role"] == "admin"
    r = await client.post("/api/v1/auth/login", json={"email": body["email"], "password": body["password"]}, headers=assertion_headers(signer))
    assert r.status_code == 200
    jwks = (await client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(r.json()["access_token"], key, algorithms=["EdDSA"], audience=ACCESS_TOKEN_AUDIENCE)
    assert claims["company_id"] == company["id"] and claims["role"] == "admin"


async def test_register_into_unknown_company_is_404(client, signer):
    r = await client.post("/api/v1/auth/register", json=_user(str(uuid.uuid4())), headers=assertion_headers(signer))
    assert r.status_code == 404 and r.json()["error"] == "company_not_found"


async def test_register_duplicate_email_is_409(client, signer):
    first = (await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))).json()
    second = (await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))).json()
    body = _user(first["id"])
    await client.post("/api/v1/auth/register", json=body, headers=assertion_headers(signer))
    again = {**body, "company_id": second["id"], "username": f"someone_{uuid.uuid4().hex[:8]}"}
    r = await client.post("/api/v1/auth/register", json=again, headers=assertion_headers(signer))
    assert r.status_code == 409 and r.json()["detail"] == {"field": "email"}


async def test_register_into_a_company_that_has_users_is_403(client, signer):
    company = (await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))).json()
    await client.post("/api/v1/auth/register", json=_user(company["id"]), headers=assertion_headers(signer))
    r = await client.post("/api/v1/auth/register", json=_user(company["id"]), headers=assertion_headers(signer))
    assert r.status_code == 403 and r.json()["error"] == "registration_closed"


async def test_login_with_wrong_password_is_401(client, signer):
    r = await client.post("/api/v1/auth/login", json={"email": SUPER_ADMIN["email"], "password": "wrong-password"}, headers=assertion_headers(signer))
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"


async def test_bootstrap_super_admin_can_log_in(client, signer):
    r = await client.post("/api/v1/auth/login", json=SUPER_ADMIN, headers=assertion_headers(signer))
    assert r.status_code == 200 and r.json()["user"]["role"] == "super_admin"


async def test_me_answers_for_the_asserted_user_only_within_their_company(client, signer):
    company = (await client.post("/api/v1/company", json=_company(), headers=assertion_headers(signer))).json()
    user = (await client.post("/api/v1/auth/register", json=_user(company["id"]), headers=assertion_headers(signer))).json()["user"]
    me = Principal(kind="user", user_id=user["id"], company_id=company["id"], role=Role.ADMIN)
    body = (await client.get("/api/v1/auth/user/me", headers=assertion_headers(signer, me))).json()
    assert body["user"]["id"] == user["id"] and body["company"]["id"] == company["id"]
    other = me.model_copy(update={"company_id": uuid.uuid4()})
    assert (await client.get("/api/v1/auth/user/me", headers=assertion_headers(signer, other))).status_code == 404


async def test_request_without_gateway_assertion_is_401(client):
    r = await client.post("/api/v1/company", json=_company())
    assert r.status_code == 401 and r.json() == {
        "success": False, "error": "unauthorized", "message": "Requests must come through the gateway",
    }


async def test_malformed_json_is_400(client, signer):
    r = await client.post("/api/v1/auth/login", content=b'{"email":', headers={**assertion_headers(signer), "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


async def test_readiness_checks_database_nats_and_redis(client):
    r = await client.get("/health/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "nats": "ok", "redis": "ok"}
