"""The audit-log browser over auth's audit events and another service's domain event, via NATS."""

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest

from knowrithm_common.events import Actor, new_event
from knowrithm_common.events.agents import AgentCreatedV1
from knowrithm_common.events.auth import AuditRecordedV1
from knowrithm_common.identity import Principal, Role

from .conftest import caught_up, publish

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Trail:
    company: uuid.UUID
    other: uuid.UUID
    admin: uuid.UUID
    root: uuid.UUID
    key_id: str
    agent_id: uuid.UUID
    ids: dict[str, str]  # entry name -> event id


def _audit(name, *, company, minutes_ago, action, actor, outcome="success", target=(None, None), reason=None):
    data = AuditRecordedV1(action=action, outcome=outcome, target_type=target[0], target_id=target[1],
                           reason=reason, detail={"note": name})
    event = new_event(data, source="auth", company_id=company, actor=actor)
    event.time = NOW - dt.timedelta(minutes=minutes_ago)
    return name, event


async def _publish_trail(app) -> Trail:
    company, other, admin, root, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    key_id, agent_id = str(uuid.uuid4()), uuid.uuid4()
    browser = dict(ip="198.51.100.1", user_agent="Mozilla/5.0")
    as_admin = Actor(kind="user", id=admin, **browser)
    agent = new_event(AgentCreatedV1(agent_id=agent_id, company_id=company, name="Support", status="active"),
                      source="agents", company_id=company, actor=as_admin)
    agent.time = NOW - dt.timedelta(minutes=60)
    events = [
        _audit("login", company=company, minutes_ago=300, action="user.login",
               actor=Actor(kind="user", id=user, **browser), target=("user", str(user))),
        _audit("bad_login", company=company, minutes_ago=240, action="user.login", outcome="failure",
               actor=Actor(kind="anonymous", ip="203.0.113.9"), reason="invalid_credentials"),
        _audit("company_update", company=company, minutes_ago=180, action="company.updated", actor=as_admin,
               target=("company", str(company))),
        _audit("key_created", company=company, minutes_ago=120, action="api_key.created", actor=as_admin,
               target=("api_key", key_id)),
        ("agent_created", agent),
        _audit("impersonated_role_change", company=company, minutes_ago=30, action="user.role_changed",
               actor=Actor(kind="user", id=admin, impersonator_id=root, **browser), target=("user", str(user))),
        _audit("refused_delete", company=company, minutes_ago=10, action="company.deleted", outcome="failure",
               actor=as_admin, target=("company", str(company)), reason="forbidden"),
        _audit("other_login", company=other, minutes_ago=20, action="user.login",
               actor=Actor(kind="user", id=uuid.uuid4())),
        _audit("country", company=None, minutes_ago=15, action="country.created", actor=Actor(kind="user", id=root)),
    ]
    for _, event in events:
        await publish(app, event)
    await caught_up(app)
    return Trail(company, other, admin, root, key_id, agent_id, {name: event.id for name, event in events})


@pytest.fixture(scope="module")
async def trail(client) -> Trail:
    return await _publish_trail(client.app)


def _admin(company):
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.ADMIN)


ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


async def _browse(call, principal, **params):
    r = await call("GET", "/api/v1/audit-log", principal, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _names(trail, body):
    by_id = {v: k for k, v in trail.ids.items()}
    return [by_id[e["id"]] for e in body["audit_logs"]]


COMPANY_A_NEWEST_FIRST = [
    "refused_delete", "impersonated_role_change", "agent_created", "key_created", "company_update", "bad_login", "login",
]


async def test_admin_browses_their_company_newest_first_with_full_entries(call, trail):
    body = await _browse(call, _admin(trail.company))
    assert _names(trail, body) == COMPANY_A_NEWEST_FIRST
    assert body["pagination"] == {"page": 1, "per_page": 20, "total": 7, "pages": 1, "has_next": False, "has_prev": False}
    impersonated = body["audit_logs"][1]
    assert impersonated == {
        "id": trail.ids["impersonated_role_change"],
        "timestamp": impersonated["timestamp"],
        "company_id": str(trail.company),
        "category": "auth",
        "action": "user.role_changed",
        "outcome": "success",
        "risk_level": "high",
        "actor": {"kind": "user", "id": str(trail.admin), "impersonator_id": str(trail.root),
                  "ip": "198.51.100.1", "user_agent": "Mozilla/5.0"},
        "target": impersonated["target"],
        "reason": None,
        "detail": {"note": "impersonated_role_change"},
    }
    assert dt.datetime.fromisoformat(impersonated["timestamp"]) == NOW - dt.timedelta(minutes=30)
    assert impersonated["target"]["type"] == "user"
    agent = body["audit_logs"][2]
    assert (agent["category"], agent["action"], agent["target"]) == (
        "agents", "agents.agent.created", {"type": "agent", "id": str(trail.agent_id)})


FILTERS = [
    ({"action": "user.login"}, ["bad_login", "login"]),
    ({"action": "company.*"}, ["refused_delete", "company_update"]),
    ({"action": "company"}, []),
    ({"category": "agents"}, ["agent_created"]),
    ({"actor_kind": "anonymous"}, ["bad_login"]),
    ({"outcome": "failure"}, ["refused_delete", "bad_login"]),
    ({"risk_level": "high"}, ["refused_delete", "impersonated_role_change"]),
    ({"risk_level": "medium"}, ["key_created", "bad_login"]),
    ({"target_type": "company", "outcome": "success"}, ["company_update"]),
]


async def test_filters_narrow_the_log(call, trail):
    for params, expected in FILTERS:
        assert _names(trail, await _browse(call, _admin(trail.company), **params)) == expected, params


async def test_filters_by_actor_target_and_dates(call, trail):
    by_actor = await _browse(call, _admin(trail.company), actor_id=str(trail.admin))
    assert _names(trail, by_actor) == COMPANY_A_NEWEST_FIRST[:5]
    by_target = await _browse(call, _admin(trail.company), target_type="api_key", target_id=trail.key_id)
    assert _names(trail, by_target) == ["key_created"]
    window = await _browse(call, _admin(trail.company), start_date=(NOW - dt.timedelta(minutes=180)).isoformat(),
                           end_date=(NOW - dt.timedelta(minutes=60)).isoformat())
    assert _names(trail, window) == ["key_created", "company_update"]  # start inclusive, end exclusive


async def test_bad_filters_are_refused(call, trail):
    for params, status, code in [
        ({"start_date": NOW.isoformat(), "end_date": (NOW - dt.timedelta(days=1)).isoformat()}, 400, "invalid_date_range"),
        ({"start_date": "yesterday"}, 400, "invalid_date_range"),
        ({"risk_level": "extreme"}, 422, "validation_error"),
        ({"actor_id": "nobody"}, 422, "validation_error"),
        ({"per_page": 101}, 422, "validation_error"),
    ]:
        r = await call("GET", "/api/v1/audit-log", _admin(trail.company), params=params)
        assert (r.status_code, r.json()["error"]) == (status, code), params


async def test_pagination_walks_the_log(call, trail):
    second = await _browse(call, _admin(trail.company), per_page=3, page=2)
    assert _names(trail, second) == COMPANY_A_NEWEST_FIRST[3:6]
    assert second["pagination"] == {"page": 2, "per_page": 3, "total": 7, "pages": 3, "has_next": True, "has_prev": True}
    last = await _browse(call, _admin(trail.company), per_page=3, page=3)
    assert _names(trail, last) == ["login"] and last["pagination"]["has_next"] is False
    beyond = await _browse(call, _admin(trail.company), per_page=3, page=4)
    assert beyond["audit_logs"] == [] and beyond["pagination"]["total"] == 7


async def test_sdk_parameter_names_filter_and_page_like_the_native_ones(call, trail):
    # admin.get_audit_logs of the official SDK sends entity_type, event_type, limit and offset.
    by_event = await _browse(call, _admin(trail.company), event_type="company.*", entity_type="company")
    assert _names(trail, by_event) == ["refused_delete", "company_update"]
    sliced = await _browse(call, _admin(trail.company), limit=3, offset=2)
    assert _names(trail, sliced) == COMPANY_A_NEWEST_FIRST[2:5]
    assert sliced["pagination"] == {"page": 1, "per_page": 3, "total": 7, "pages": 3, "has_next": True, "has_prev": True}
    past = await _browse(call, _admin(trail.company), offset=50)
    assert past["audit_logs"] == [] and past["pagination"]["has_next"] is False
    for params in ({"action": "user.login", "event_type": "user.logout"}, {"limit": 0}, {"offset": -1},
                   {"offset": 10**20}):
        r = await call("GET", "/api/v1/audit-log", _admin(trail.company), params=params)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), params


async def test_companies_see_only_their_own_log_and_super_admins_any(call, trail):
    assert _names(trail, await _browse(call, _admin(trail.other))) == ["other_login"]
    everyone = await _browse(call, ROOT, per_page=100, start_date=(NOW - dt.timedelta(minutes=301)).isoformat(),
                             end_date=(NOW + dt.timedelta(seconds=1)).isoformat())
    seen = {e["id"] for e in everyone["audit_logs"]}
    assert set(trail.ids.values()) <= seen  # every company's entries, and the platform's own
    one = await _browse(call, ROOT, company_id=str(trail.other))
    assert _names(trail, one) == ["other_login"]


async def test_only_admins_and_admin_scoped_keys_may_browse(call, trail):
    def key(scopes):
        return Principal(kind="api_key", company_id=trail.company, user_id=trail.admin, role=Role.ADMIN,
                         scopes=scopes, api_key_id=uuid.uuid4())

    assert len((await _browse(call, key(["admin"])))["audit_logs"]) == 7
    user = Principal(kind="user", user_id=uuid.uuid4(), company_id=trail.company, role=Role.USER)
    for principal in (user, key(["read"]), key(["read", "write"])):
        r = await call("GET", "/api/v1/audit-log", principal)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
