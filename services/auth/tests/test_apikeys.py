"""API keys: shown once, stored hashed, scoped, revoked at once, resolved for the gateway, usage counted."""

import datetime as dt
import json
import uuid

import nats
from sqlalchemy import select

from knowrithm_auth.models import ApiKey
from knowrithm_common.events import new_event
from knowrithm_common.events.gateway import ApiRequest, ApiRequestsRecordedV1
from knowrithm_common.identity import Principal, Role
from knowrithm_common.messaging.streams import EVENTS_STREAM
from knowrithm_common.testing import assertion_headers
from knowrithm_common.tokens import API_KEY_CACHE_KEY, API_KEY_RESOLVE_PATH, credential_hash

from .support import eventually, signup


async def _create(client, signer, account, **body):
    return await client.post("/api/v1/auth/api-keys", json={"name": "ci", **body},
                             headers=assertion_headers(signer, account.principal()))


def _gateway(signer):
    return assertion_headers(signer, Principal.service())


async def test_created_key_is_shown_once_and_only_hashes_are_stored(client, signer):
    account = await signup(client, signer)
    r = await _create(client, signer, account, scopes=["read"], rate_limit_per_hour=5, expires_in_days=30)
    assert r.status_code == 201
    body = r.json()
    assert body["api_key"].startswith("ak_") and body["api_secret"].startswith("as_")
    details = body["details"]
    assert details["scopes"] == ["read"] and details["rate_limit_per_hour"] == 5 and details["status"] == "active"
    assert details["key_prefix"] == body["api_key"][:8]
    async with client.app.state.db.sessions() as s:
        row = await s.get(ApiKey, uuid.UUID(details["id"]))
    stored = json.dumps({c.name: str(getattr(row, c.key)) for c in ApiKey.__table__.columns})
    assert body["api_secret"] not in stored and body["api_key"] not in stored
    assert row.secret_hash == credential_hash(body["api_secret"])
    listed = (await client.get("/api/v1/auth/api-keys", headers=assertion_headers(signer, account.principal()))).json()
    assert [k["id"] for k in listed["api_keys"]] == [details["id"]]
    assert "api_secret" not in json.dumps(listed) and body["api_secret"] not in json.dumps(listed)


async def test_unknown_scope_is_422_and_plain_users_cannot_mint_admin_keys(client, signer):
    account = await signup(client, signer)
    r = await _create(client, signer, account, scopes=["read", "superpowers"])
    assert r.status_code == 422
    user = account.principal(role=Role.USER)
    r = await client.post("/api/v1/auth/api-keys", json={"scopes": ["full_access"]},
                          headers=assertion_headers(signer, user))
    assert r.status_code == 403
    assert (await _create(client, signer, account, scopes=["documents:write"])).status_code == 201


async def test_resolve_gives_the_gateway_the_record_and_only_the_gateway(client, signer):
    account = await signup(client, signer)
    body = (await _create(client, signer, account, scopes=["read", "write"])).json()
    key_hash = credential_hash(body["api_key"])
    r = await client.post(API_KEY_RESOLVE_PATH, json={"key_hash": key_hash}, headers=_gateway(signer))
    assert r.status_code == 200
    record = r.json()
    assert record["company_id"] == account.company["id"] and record["role"] == "admin"
    assert record["secret_hash"] == credential_hash(body["api_secret"]) and record["scopes"] == ["read", "write"]
    as_user = await client.post(API_KEY_RESOLVE_PATH, json={"key_hash": key_hash},
                                headers=assertion_headers(signer, account.principal()))
    assert as_user.status_code == 403
    missing = await client.post(API_KEY_RESOLVE_PATH, json={"key_hash": "0" * 64}, headers=_gateway(signer))
    assert missing.status_code == 404


async def test_revoking_drops_the_gateway_cache_entry_and_resolve_then_refuses(client, signer):
    account = await signup(client, signer)
    body = (await _create(client, signer, account)).json()
    key_hash = credential_hash(body["api_key"])
    redis = client.app.state.redis
    await redis.set(API_KEY_CACHE_KEY.format(key_hash=key_hash), "{}")
    r = await client.delete(f"/api/v1/auth/api-keys/{body['details']['id']}",
                            headers=assertion_headers(signer, account.principal()))
    assert r.status_code == 200 and r.json()["api_key"]["status"] == "revoked"
    assert not await redis.exists(API_KEY_CACHE_KEY.format(key_hash=key_hash))
    r = await client.post(API_KEY_RESOLVE_PATH, json={"key_hash": key_hash}, headers=_gateway(signer))
    assert r.status_code == 404
    listed = (await client.get("/api/v1/auth/api-keys", headers=assertion_headers(signer, account.principal()))).json()
    assert listed["api_keys"] == []


async def test_another_companys_key_cannot_be_revoked_and_is_404(client, signer):
    owner, stranger = await signup(client, signer), await signup(client, signer)
    key_id = (await _create(client, signer, owner)).json()["details"]["id"]
    r = await client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=assertion_headers(signer, stranger.principal()))
    assert r.status_code == 404 and r.json()["error"] == "api_key_not_found"
    unknown = await client.delete(f"/api/v1/auth/api-keys/{uuid.uuid4()}",
                                  headers=assertion_headers(signer, stranger.principal()))
    assert unknown.json() == r.json()


async def test_validate_describes_the_calling_key(client, signer):
    account = await signup(client, signer)
    details = (await _create(client, signer, account, scopes=["read"])).json()["details"]
    caller = account.principal(kind="api_key", api_key_id=details["id"], scopes=["read"])
    r = await client.get("/api/v1/auth/validate", headers=assertion_headers(signer, caller))
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is True and body["api_key_info"]["id"] == details["id"]
    assert body["company"]["id"] == account.company["id"] and body["user"]["id"] == account.user["id"]


async def test_usage_events_update_last_used_and_count_once(client, signer, stack):
    account = await signup(client, signer)
    details = (await _create(client, signer, account)).json()["details"]
    now = dt.datetime.now(dt.UTC)
    requests = [
        ApiRequest(id=str(uuid.uuid4()), time=now, company_id=account.company["id"], api_key_id=details["id"],
                   credential="api_key", method="GET", route="/api/v1/agent", status=200, latency_ms=3.0)
        for _ in range(3)
    ]
    envelope = new_event(ApiRequestsRecordedV1(requests=requests), source="gateway", company_id=None)
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    payload = envelope.model_dump_json().encode()
    await js.publish(envelope.subject, payload, headers={"Nats-Msg-Id": envelope.id})
    # A replay of the same event under another message id must not count twice.
    replay = await js.publish(envelope.subject, payload, headers={"Nats-Msg-Id": envelope.id + "-replay"})

    async def both_handled():
        """The usage consumer acknowledged the replay (and so the original before it)."""
        info = await js.consumer_info(EVENTS_STREAM, client.app.state.usage_consumer.durable)
        return info.ack_floor.stream_seq >= replay.seq

    await eventually(both_handled)
    await nc.close()
    async with client.app.state.db.sessions() as s:
        count, last_used = (await s.execute(select(ApiKey.usage_count, ApiKey.last_used_at)
                                            .where(ApiKey.id == uuid.UUID(details["id"])))).one()
    assert count == 3 and last_used is not None
