"""System configuration: super admins change it, admins read it (sensitive values masked), known keys
are validated, every change is audited and published to Redis, and closed sign-up refuses companies."""

import uuid

import pytest
from sqlalchemy import select

from knowrithm_auth.models import SystemConfigEntry, shared
from knowrithm_common.identity import Principal, Role
from knowrithm_common.sysconfig import KNOWN_KEYS, SNAPSHOT_KEY, parse_snapshot
from knowrithm_common.testing import assertion_headers, environment, running_app

from .support import eventually, signup

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
SECRET = "sk-live-0123456789abcdefghij"


@pytest.fixture(autouse=True)
async def reset_config(client, signer):
    """Every test starts and ends without entries for the platform's keys (the database is shared)."""
    yield
    body = {"configs": [{"config_key": key, "config_value": None} for key in KNOWN_KEYS]}
    r = await client.patch("/api/v1/config", json=body, headers=assertion_headers(signer, ROOT))
    assert r.status_code == 200, r.text


def _root(signer):
    return assertion_headers(signer, ROOT)


async def _patch(client, signer, body, principal=ROOT):
    return await client.patch("/api/v1/config", json=body, headers=assertion_headers(signer, principal))


async def _events(client, event_type, **data):
    async with client.app.state.db.sessions() as s:
        envelopes = (await s.execute(select(shared.outbox.c.envelope))).scalars().all()
    return [e for e in envelopes if e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items())]


def _entry(body, key):
    return next(e for e in body["configs"] if e["config_key"] == key)


async def test_super_admin_creates_an_entry_that_admins_read_with_its_type(client, signer):
    admin = await signup(client, signer)
    key = f"integration.crm_{uuid.uuid4().hex[:6]}"
    r = await _patch(client, signer, {"config_key": key, "config_value": {"region": "eu"}, "description": "CRM"})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["config_type"] == "json" and r.json()["changes"] == [
        {"config_key": key, "change": "created"}]
    r = await client.get("/api/v1/config", headers=assertion_headers(signer, admin.principal()))
    assert r.status_code == 200, r.text
    entry = _entry(r.json(), key)
    assert entry["config_value"] == {"region": "eu"} and entry["description"] == "CRM"
    assert entry["honoured_by"] == [] and entry["is_masked"] is False
    assert {k["config_key"] for k in r.json()["known_keys"]} == set(KNOWN_KEYS)


async def test_sensitive_value_is_hidden_from_admins_and_stored_encrypted(client, signer):
    admin = await signup(client, signer)
    key = f"smtp_relay_password_{uuid.uuid4().hex[:6]}"
    r = await _patch(client, signer, {"config_key": key, "config_value": SECRET, "is_sensitive": True})
    assert r.status_code == 200 and r.json()["config"]["config_value"] == SECRET
    r = await client.get("/api/v1/config", headers=assertion_headers(signer, admin.principal()))
    entry = _entry(r.json(), key)
    assert entry["config_value"] is None and entry["is_masked"] is True and entry["is_sensitive"] is True
    assert SECRET not in r.text  # nor any mask whose length would tell the value's
    key_principal = admin.principal(kind="api_key", scopes=["admin"], api_key_id=uuid.uuid4())
    r = await client.get("/api/v1/config", headers=assertion_headers(signer, key_principal))
    assert r.status_code == 200 and _entry(r.json(), key)["config_value"] is None
    assert _entry((await client.get("/api/v1/config", headers=_root(signer))).json(), key)["config_value"] == SECRET
    async with client.app.state.db.sessions() as s:
        row = await s.get(SystemConfigEntry, key)
    assert row.config_value is None and SECRET not in row.encrypted_value
    (event,) = await _events(client, "auth.system_config.changed.v1", config_key=key)
    assert event["data"]["config_value"] is None and SECRET not in str(event)


async def test_known_keys_refuse_wrong_types_and_ranges_with_422_naming_each_problem(client, signer):
    r = await _patch(client, signer, {"config_key": "max_file_size", "config_value": 1024**3})
    assert r.status_code == 422 and r.json()["error"] == "invalid_config"
    assert r.json()["message"] == "config_value: max_file_size: must be at most 536,870,912"
    r = await _patch(client, signer, {"configs": [
        {"config_key": "rate_limit_user_per_minute", "config_value": -1},
        {"config_key": "public_signup_enabled", "config_value": "maybe"},
        {"config_key": "max_file_size", "config_value": 4096, "config_type": "string"},
        {"config_key": "Max_File_Size", "config_value": 4096},
        {"config_key": "rate_limit_company_per_minute", "config_value": 10, "is_sensitive": True},
    ]})
    assert r.status_code == 422, r.text
    problems = {tuple(p["loc"]): p["msg"] for p in r.json()["detail"]}
    assert problems == {
        ("configs", 0, "config_value"): "rate_limit_user_per_minute: must be at least 0",
        ("configs", 1, "config_value"): "public_signup_enabled: expected a boolean (true or false)",
        ("configs", 2, "config_type"): "max_file_size is a platform key of type integer",
        ("configs", 3, "config_key"): "keys are case-sensitive: the platform's key is max_file_size",
        ("configs", 4, "is_sensitive"):
            "rate_limit_company_per_minute is a platform key every service reads: it cannot be sensitive",
    }
    r = await client.get("/api/v1/config", headers=_root(signer))
    assert not any(e["config_key"] in KNOWN_KEYS for e in r.json()["configs"])  # all or none


async def test_values_in_text_are_read_as_their_type_and_other_keys_keep_theirs(client, signer):
    r = await _patch(client, signer, {"config_key": "rate_limit_user_per_minute", "config_value": "120"})
    assert r.status_code == 200 and r.json()["config"]["config_value"] == 120
    key = f"feature.beta_{uuid.uuid4().hex[:6]}"
    assert (await _patch(client, signer, {"config_key": key, "config_value": 3})).status_code == 200
    r = await _patch(client, signer, {"config_key": key, "config_value": "three"})
    assert r.status_code == 422 and "give config_type to change it" in r.json()["message"]
    r = await _patch(client, signer, {"config_key": key, "config_value": "three", "config_type": "string"})
    assert r.status_code == 200 and r.json()["config"]["config_type"] == "string"
    bad_bodies = ({"config_key": key, "config_value": "x\u0000y"}, {"config_key": key},
                  {"config_key": ":x", "config_value": 1}, {"config_key": key, "config_value": 1, "colour": "red"})
    for bad in bad_bodies:
        r = await _patch(client, signer, bad)
        assert r.status_code == 422, (bad, r.text)


async def test_only_super_admins_change_the_configuration_and_refusals_are_audited(client, signer):
    admin = await signup(client, signer)
    body = {"config_key": "public_signup_enabled", "config_value": False}
    r = await _patch(client, signer, body, admin.principal())
    assert r.status_code == 403
    refusals = [e for e in await _events(client, "auth.audit.recorded.v1", action="system_config.changed")
                if e["data"]["outcome"] == "failure" and e["actor"]["id"] == admin.user["id"]]
    assert len(refusals) == 1 and refusals[0]["data"]["reason"] == "forbidden"
    member = admin.principal(role=Role.USER)
    assert (await client.get("/api/v1/config", headers=assertion_headers(signer, member))).status_code == 403
    reader = admin.principal(kind="api_key", scopes=["read"], api_key_id=uuid.uuid4())
    assert (await client.get("/api/v1/config", headers=assertion_headers(signer, reader))).status_code == 403


async def test_a_change_is_audited_and_published_and_a_repeat_changes_nothing(client, signer):
    body = {"config_key": "max_file_size", "config_value": 2 * 1024 * 1024}
    r = await _patch(client, signer, body)
    assert r.status_code == 200 and r.json()["changes"][0]["change"] == "created"
    revision, values = parse_snapshot(await client.app.state.redis.hgetall(SNAPSHOT_KEY))
    assert values["max_file_size"] == 2 * 1024 * 1024  # in Redis before the answer left
    audits = [e for e in await _events(client, "auth.audit.recorded.v1", action="system_config.changed")
              if e["data"]["target_id"] == "max_file_size" and e["data"]["outcome"] == "success"]
    assert audits[-1]["data"]["detail"] == {"change": "created", "is_sensitive": False, "config_value": 2097152}
    assert audits[-1]["company_id"] is None and audits[-1]["actor"]["id"] == str(ROOT.user_id)
    changes = await _events(client, "auth.system_config.changed.v1", config_key="max_file_size")
    r = await _patch(client, signer, body)
    assert r.json()["changes"][0]["change"] == "unchanged"
    assert len(await _events(client, "auth.system_config.changed.v1", config_key="max_file_size")) == len(changes)
    r = await _patch(client, signer, {"config_key": "max_file_size", "config_value": None})
    assert r.json()["changes"][0]["change"] == "removed" and r.json()["config"] is None
    newer, values = parse_snapshot(await client.app.state.redis.hgetall(SNAPSHOT_KEY))
    assert newer > revision and "max_file_size" not in values


async def test_a_flushed_snapshot_is_published_again_within_seconds(client, signer):
    await _patch(client, signer, {"config_key": "rate_limit_company_per_minute", "config_value": 900})
    redis = client.app.state.redis
    await redis.delete(SNAPSHOT_KEY)

    async def republished():
        return await redis.exists(SNAPSHOT_KEY)

    await eventually(republished, timeout=5)
    assert parse_snapshot(await redis.hgetall(SNAPSHOT_KEY))[1] == {"rate_limit_company_per_minute": 900}


async def test_closed_sign_up_refuses_companies_except_from_super_admins(client, signer):
    closed = await _patch(client, signer, {"config_key": "public_signup_enabled", "config_value": False})
    assert closed.status_code == 200
    tag = uuid.uuid4().hex[:8]
    body = {"name": f"Closed {tag}", "email": f"closed-{tag}@example.com"}
    r = await client.post("/api/v1/company", json=body, headers=assertion_headers(signer))
    assert r.status_code == 403 and r.json()["error"] == "signup_closed"
    assert (await client.post("/api/v1/company", json=body, headers=_root(signer))).status_code == 201
    reopened = await _patch(client, signer, {"config_key": "public_signup_enabled", "config_value": True})
    assert reopened.status_code == 200
    body["email"] = f"open-{tag}@example.com"
    assert (await client.post("/api/v1/company", json=body, headers=assertion_headers(signer))).status_code == 201


async def test_sensitive_entries_need_an_encryption_key_on_the_server(auth_env, signer):
    from knowrithm_auth.main import create_app

    with environment({**auth_env, "ENCRYPTION_KEY": ""}):
        app = create_app()
    async with running_app(app) as bare:
        r = await _patch(bare, signer, {"config_key": f"token_{uuid.uuid4().hex[:6]}", "config_value": "t",
                                        "is_sensitive": True})
    assert r.status_code == 503 and r.json()["error"] == "encryption_unavailable"
