"""Identity and governance through the official SDK (`knowrithm-py`, default configuration).

Auth, API keys and their analytics, users, companies (the logo file too), addresses and
geographic data, admin and the analytics dashboard service, each method called as a user
would and checked by what it returns. JWT-only calls pass `headers=tenant.bearer`; the SDK
session still sends its API-key headers beside it, and the Bearer token decides
(docs/identity.md). The SDK's own defects in these areas are listed in docs/sdk.md.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError
from knowrithm_py.knowrithm.client import KnowrithmClient

from .accounts import PASSWORD, mail_token
from .sdk import SdkTenant, new_tenant, sdk_client, super_admin_bearer

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(48)
JPEG = b"\xff\xd8\xff\xe0" + bytes(48)


def eventually(fetch: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float = 20) -> Any:
    """Call `fetch` until `done` holds for its answer (projections catch up asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def refused(call: Callable[[], Any]) -> KnowrithmAPIError:
    """The SDK's error for a call the platform refuses."""
    with pytest.raises(KnowrithmAPIError) as caught:
        call()
    return caught.value


def new_user(tenant: SdkTenant, **fields: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    body = {"email": f"member-{tag}@example.com", "username": f"member_{tag}", "password": PASSWORD,
            "first_name": "Grace", "last_name": "Hopper", "role": "user", **fields}
    return tenant.client.auth.create_user(body)


@pytest.fixture(scope="module")
def gw(platform) -> str:
    return platform.gateway_url


@pytest.fixture(scope="module")
def tenant(gw) -> SdkTenant:
    """A company shared by the tests that only read it or add to it."""
    return new_tenant(gw)


@pytest.fixture(scope="module")
def root(platform) -> dict[str, str]:
    return super_admin_bearer(platform.gateway_url, platform.env)


@pytest.fixture(scope="module")
def anon(gw) -> KnowrithmClient:
    """An SDK client built without an API key, as for sign-up and sign-in."""
    return sdk_client(gw)


# --- sign-up, sessions, verification -----------------------------------------------------------

def test_keyless_sdk_signs_up_a_company_registers_its_admin_and_logs_in(anon):
    tag = uuid.uuid4().hex[:10]
    company = anon.companies.create_company({"name": f"Acme {tag}", "email": f"hello-{tag}@example.com"})
    assert company["name"] == f"Acme {tag}" and company["is_active"] is True
    email = f"owner-{tag}@example.com"
    registered = anon.auth.register_admin({"company_id": company["id"], "email": email, "username": f"o_{tag}",
                                           "password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace"})
    assert registered["user"]["role"] == "admin" and registered["user"]["company_id"] == company["id"]
    session = anon.auth.login(email, PASSWORD)
    me = anon.auth.get_current_user({"Authorization": f"Bearer {session['access_token']}"})
    assert me["user"]["email"] == email and me["company"]["id"] == company["id"]
    assert refused(lambda: anon.auth.login(email, "wrong-password")).status_code == 401


def test_refresh_rotates_the_session_and_logout_ends_it(anon, tenant):
    session = tenant.client.auth.login(tenant.email, PASSWORD)
    renewed = anon.auth.refresh_access_token(session["refresh_token"])  # Authorization: Bearer rt_…
    assert renewed["refresh_token"] != session["refresh_token"]
    bearer = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert tenant.client.auth.get_current_user(bearer)["user"]["id"] == tenant.user["id"]
    # The key-holding client refreshes too: its key headers ride along and do not matter.
    again = tenant.client.auth.refresh_access_token(renewed["refresh_token"])
    reused = refused(lambda: anon.auth.refresh_access_token(renewed["refresh_token"]))
    assert reused.status_code == 401 and reused.response_data["error"] == "refresh_token_reused"
    ended = {"Authorization": f"Bearer {again['access_token']}"}
    assert refused(lambda: tenant.client.auth.get_current_user(ended)).status_code == 401
    fresh = tenant.client.auth.login(tenant.email, PASSWORD)
    fresh_bearer = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert tenant.client.auth.logout(fresh_bearer)["success"] is True
    assert refused(lambda: tenant.client.auth.get_current_user(fresh_bearer)).status_code == 401


def test_verification_mail_and_token_mark_the_address_verified(platform, anon, tenant):
    user = new_user(tenant)
    assert user["email_verified"] is False
    sent = anon.auth.send_verification_email(user["email"])
    assert sent["success"] is True
    verified = anon.auth.verify_email(mail_token(platform.mail_dir, user["email"]))
    assert verified["success"] is True
    assert tenant.client.admin.get_user(user["id"])["data"]["email_verified"] is True
    bad = refused(lambda: anon.auth.verify_email("not-a-real-verification-token"))
    assert bad.status_code == 400


# --- the caller's account ----------------------------------------------------------------------

def test_api_key_reads_and_updates_its_users_profile(tenant):
    me = tenant.client.auth.get_current_user(None)
    assert me["user"]["id"] == tenant.user["id"] and me["company"]["id"] == tenant.company["id"]
    assert tenant.client.users.get_profile(None)["user"]["email"] == tenant.email
    updated = tenant.client.users.update_profile({"timezone": "Europe/Berlin", "language": "de"}, headers=None)
    assert (updated["user"]["timezone"], updated["user"]["language"]) == ("Europe/Berlin", "de")
    assert tenant.client.users.get_profile(tenant.bearer)["user"]["timezone"] == "Europe/Berlin"
    found = tenant.client.users.get_user(tenant.user["id"], None)
    assert found["success"] is True and found["data"]["email"] == tenant.email


def test_users_of_another_company_are_not_found(gw, tenant):
    other = new_tenant(gw)
    assert refused(lambda: tenant.client.users.get_user(other.user["id"], None)).status_code == 404
    assert refused(lambda: tenant.client.admin.get_user(other.user["id"])).status_code == 404


# --- API keys ----------------------------------------------------------------------------------

def test_api_keys_are_created_listed_validated_and_revoked_with_the_users_token(gw, tenant):
    created = tenant.client.api_keys.create_api_key({"name": "ci", "scopes": ["read"]}, headers=tenant.bearer)
    key_id = created["details"]["id"]
    assert created["api_key"].startswith("ak_") and created["details"]["scopes"] == ["read"]
    listed = tenant.client.api_keys.list_api_keys(tenant.bearer)["api_keys"]
    assert {k["id"] for k in listed} >= {key_id, tenant.api_key_id}
    ci = sdk_client(gw, created["api_key"], created["api_secret"])
    described = ci.api_keys.validate_credentials(None)
    assert described["credential"] == "api_key" and described["api_key_info"]["id"] == key_id
    assert described["user"]["id"] == tenant.user["id"]
    revoked = tenant.client.api_keys.delete_api_key(key_id, tenant.bearer)
    assert revoked["api_key"]["status"] == "revoked"
    assert refused(lambda: ci.api_keys.validate_credentials(None)).status_code == 401


def test_bearer_token_decides_over_the_sdk_sessions_api_key(gw, tenant):
    member = new_user(tenant)
    session = sdk_client(gw).auth.login(member["email"], PASSWORD)
    as_member = {"Authorization": f"Bearer {session['access_token']}"}
    described = tenant.client.api_keys.validate_credentials(as_member)
    assert described["credential"] == "user" and described["user"]["id"] == member["id"]
    # The member (role user) cannot do what the session's admin key could.
    assert refused(lambda: tenant.client.admin.list_users(headers=as_member)).status_code == 403
    # And the JWT-only routes refuse the key alone.
    alone = refused(lambda: tenant.client.api_keys.list_api_keys({}))
    assert alone.status_code == 403 and alone.response_data["error"] == "api_key_not_allowed"


def test_api_key_analytics_report_the_keys_own_requests(gw):
    fresh = new_tenant(gw)
    client = fresh.client
    for _ in range(3):
        client.companies.get_company()
    refused(lambda: client.users.get_user(str(uuid.uuid4()), None))  # one 404
    overview = eventually(lambda: client.api_keys.get_api_key_overview(days=1),
                          lambda o: o["data"]["usage"]["total_requests"] >= 4)
    usage = overview["data"]["usage"]
    assert usage["total_requests"] >= 4 and usage["success_rate"] < 100
    assert overview["data"]["api_keys"]["active"] == 1
    trends = client.api_keys.get_usage_trends(days=1, granularity="hourly")["data"]
    assert trends["granularity"] == "hourly" and sum(t["total_requests"] for t in trends["trends"]) >= 4
    endpoints = client.api_keys.get_top_endpoints(days=1)["data"]["endpoints"]
    by_route = {(e["method"], e["endpoint"]): e["total_requests"] for e in endpoints}
    assert by_route[("GET", "/api/v1/company")] == 3  # the analytics calls above count too
    performance = client.api_keys.get_api_key_performance(days=1)["data"]["api_keys"]
    assert [k["api_key_id"] for k in performance] == [fresh.api_key_id]
    errors = client.api_keys.get_error_analysis(days=1)["data"]
    assert errors["total_errors"] >= 1
    assert {"status_code": 404}.items() <= errors["status_code_breakdown"][0].items()
    limits = client.api_keys.get_rate_limit_analysis(days=1)["data"]
    assert limits["high_usage_api_keys"] == [] and limits["period_days"] == 1
    detail = client.api_keys.get_detailed_usage(fresh.api_key_id, days=1)["data"]
    assert detail["api_key"]["id"] == fresh.api_key_id
    assert sum(d["total_requests"] for d in detail["daily_breakdown"]) >= 4
    assert refused(lambda: client.api_keys.get_detailed_usage(str(uuid.uuid4()))).status_code == 404


# --- companies ---------------------------------------------------------------------------------

def test_admin_reads_patches_and_replaces_its_company(gw):
    owner = new_tenant(gw)
    company_id = owner.company["id"]
    assert owner.client.companies.get_company()["id"] == company_id
    patched = owner.client.companies.patch_company(company_id, {"phone": "+1-555-0100"})
    assert patched["phone"] == "+1-555-0100" and patched["name"] == owner.company["name"]
    replaced = owner.client.companies.update_company(company_id, {"name": "Acme Renamed",
                                                                  "email": owner.company["email"]})
    assert (replaced["name"], replaced["phone"]) == ("Acme Renamed", None)
    assert owner.client.companies.get_company(owner.bearer)["name"] == "Acme Renamed"
    stats = owner.client.companies.get_company_statistics(days=7)
    assert stats["statistics"] == {"total_leads": 0, "qualified_leads": 0, "conversion_rate": None,
                                   "active_conversations": 0, "period_days": 7}
    named = owner.client.companies.get_company_statistics(company_id=company_id, days=30)
    assert named["statistics"]["period_days"] == 30


def test_company_logo_files_are_uploaded_and_served(gw, anon, tmp_path: Path):
    png, jpeg = tmp_path / "logo.png", tmp_path / "logo.jpg"
    png.write_bytes(PNG)
    jpeg.write_bytes(JPEG)
    tag = uuid.uuid4().hex[:10]
    company = anon.companies.create_company({"name": f"Logo {tag}", "email": f"logo-{tag}@example.com"},
                                            logo_path=png)
    served = httpx.get(company["logo"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    owner = new_tenant(gw)
    updated = owner.client.companies.update_company(
        owner.company["id"], {"name": owner.company["name"], "email": owner.company["email"]}, logo_path=jpeg)
    served = httpx.get(updated["logo"])
    assert served.content == JPEG and served.headers["content-type"] == "image/jpeg"


def test_super_admin_lists_deletes_restores_and_cascades_companies(gw, anon, root, tenant):
    page = tenant.client.companies.list_companies(page=1, per_page=2, headers=root)
    assert len(page["companies"]) == 2 and page["pagination"]["per_page"] == 2
    assert refused(lambda: tenant.client.companies.list_companies()).status_code == 403
    doomed = new_tenant(gw)
    spare = anon.companies.create_company({"name": "Spare", "email": f"spare-{uuid.uuid4().hex[:8]}@example.com"})
    ids = [doomed.company["id"], spare["id"]]
    summary = tenant.client.companies.get_related_data_summary(doomed.company["id"], root)
    assert summary["related_data"] == {"users": 1, "active_api_keys": 1, "addresses": 0}
    deleted = tenant.client.companies.delete_company(spare["id"], root)
    assert deleted["company"]["deleted_at"] is not None
    assert spare["id"] in {c["id"] for c in tenant.client.companies.list_deleted_companies(root)["companies"]}
    assert tenant.client.companies.restore_company(spare["id"], root)["company"]["deleted_at"] is None
    bulk = tenant.client.companies.bulk_delete_companies(ids, headers=root)
    assert bulk["deleted"] == 2
    assert tenant.client.companies.bulk_restore_companies(ids, headers=root)["restored"] == 2
    cascade = tenant.client.companies.cascade_delete_company(doomed.company["id"], delete_related=True,
                                                             headers=root)
    assert cascade["company"]["deleted_at"] is not None
    assert refused(lambda: doomed.client.companies.get_company()).status_code == 401
    assert refused(lambda: anon.auth.login(doomed.email, PASSWORD)).status_code == 401  # user deleted too


# --- geography and addresses -------------------------------------------------------------------

def test_reference_data_is_seeded_and_super_admins_curate_it(anon, root, tenant):
    seeded = anon.addresses.seed_reference_data()
    assert seeded["countries_total"] >= 249
    countries = {c["iso_code"]: c for c in anon.addresses.list_countries()}
    germany = anon.addresses.get_country(countries["DEU"]["id"])
    assert germany["name"] == "Germany" and len(germany["state"]) == 16
    states = anon.addresses.list_states_by_country(germany["id"])
    assert anon.addresses.get_state(states[0]["id"])["country"]["id"] == germany["id"]

    tag = uuid.uuid4().hex[:6]
    country = tenant.client.addresses.create_country(f"Utopia {tag}", headers=root)
    country = tenant.client.addresses.update_country(country["id"], name=f"Utopia {tag}!", headers=root)
    assert country["name"] == f"Utopia {tag}!"
    state = tenant.client.addresses.create_state("North", country["id"], headers=root)
    state = tenant.client.addresses.update_state(state["id"], name="Northern", headers=root)
    city = tenant.client.addresses.create_city("Harbour", state["id"], postal_code_prefix="12", headers=root)
    city = tenant.client.addresses.update_city(city["id"], postal_code_prefix="34", headers=root)
    assert (city["name"], city["postal_code_prefix"], city["state"]["name"]) == ("Harbour", "34", "Northern")
    assert [c["id"] for c in anon.addresses.list_cities_by_state(state["id"])] == [city["id"]]
    assert anon.addresses.get_city(city["id"])["country"]["id"] == country["id"]
    # Reference data is shared by every tenant: a company admin cannot change it.
    denied = refused(lambda: tenant.client.addresses.create_country("Mine", headers=tenant.bearer))
    assert denied.status_code == 403


def test_company_address_is_created_and_becomes_the_primary_one(gw, anon, root):
    owner = new_tenant(gw)
    tag = uuid.uuid4().hex[:6]
    country = owner.client.addresses.create_country(f"Atlantis {tag}", headers=root)
    state = owner.client.addresses.create_state("Coast", country["id"], headers=root)
    city = owner.client.addresses.create_city("Port", state["id"], headers=root)
    address = owner.client.addresses.create_address("1 Main St", city["id"], state["id"], country["id"],
                                                    lat=52.5, lan=13.4, postal_code="10115", is_primary=True)
    assert (address["street_address"], address["lan"], address["city"]["name"]) == ("1 Main St", 13.4, "Port")
    assert [a["id"] for a in owner.client.addresses.get_company_address()["address"]] == [address["id"]]
    assert owner.client.companies.get_company()["address_id"] == address["id"]
    wrong = refused(lambda: owner.client.addresses.create_address("2 Side St", city["id"], state["id"],
                                                                  country["id"] + 10_000))
    assert wrong.status_code == 404 and wrong.response_data["error"] == "country_not_found"


# --- admin and governance ----------------------------------------------------------------------

def test_admin_finds_users_and_changes_their_status_and_role(anon, root, tenant):
    member = new_user(tenant)
    found = tenant.client.admin.list_users(search=member["email"], role="user", status="active",
                                           never_logged_in=True, sort_by="created_at", sort_order="desc")
    assert [u["id"] for u in found["users"]] == [member["id"]]
    assert tenant.client.admin.get_user(member["id"])["data"]["email"] == member["email"]
    everyone = tenant.client.admin.list_users(company_id=tenant.company["id"], per_page=100, headers=root)
    assert {tenant.user["id"], member["id"]} <= {u["id"] for u in everyone["users"]}
    promoted = tenant.client.admin.update_user_role(member["id"], "admin")
    assert promoted["data"]["role"] == "admin"
    suspended = tenant.client.admin.update_user_status(member["id"], "suspended", reason="left the team")
    assert suspended["data"]["status"] == "suspended"
    assert refused(lambda: anon.auth.login(member["email"], PASSWORD)).status_code == 403
    assert tenant.client.admin.list_users(search=member["email"], status="suspended")["users"][0]["id"] == member["id"]


def test_forced_password_reset_stops_the_old_password(platform, anon, tenant):
    member = new_user(tenant)
    assert anon.auth.login(member["email"], PASSWORD)["user"]["id"] == member["id"]
    assert tenant.client.admin.force_password_reset(member["id"])["success"] is True
    blocked = refused(lambda: anon.auth.login(member["email"], PASSWORD))
    assert blocked.status_code == 403 and blocked.response_data["error"] == "password_reset_required"
    assert mail_token(platform.mail_dir, member["email"])  # the reset link went out


def test_super_admin_impersonates_a_user_with_a_token_of_theirs(root, tenant):
    member = new_user(tenant)
    granted = tenant.client.admin.impersonate_user(member["id"], headers=root)
    as_member = {"Authorization": f"Bearer {granted['access_token']}"}
    assert tenant.client.auth.get_current_user(as_member)["user"]["id"] == member["id"]
    assert refused(lambda: tenant.client.admin.impersonate_user(member["id"], tenant.bearer)).status_code == 403


def test_system_metrics_and_audit_log_show_the_companys_own_facts(root, tenant):
    new_user(tenant)
    member = new_user(tenant)
    # The company's own view and a super admin's view of it agree once every registration of the
    # module's shared tenant is projected (earlier tests' users may still be on their way).
    def both_views():
        own = tenant.client.admin.get_company_system_metrics()
        named = tenant.client.admin.get_company_system_metrics(company_id=tenant.company["id"], headers=root)
        return own["metrics"]["users_registered"], named["metrics"]["users_registered"]

    (users,), (named,) = eventually(both_views, lambda views: views[0][0]["value"] >= 2
                                    and views[0][0]["value"] == views[1][0]["value"])
    assert users["labels"] == {"company_id": tenant.company["id"]} and users["value"] >= 2
    assert named["value"] == users["value"]
    audit = tenant.client.admin.get_audit_logs
    logs = eventually(lambda: audit(event_type="user.created", entity_type="user", limit=50),
                      lambda page: any(e["target"]["id"] == member["id"] for e in page["audit_logs"]))
    entry = logs["audit_logs"][0]  # newest first
    assert (entry["action"], entry["target"]["id"]) == ("user.created", member["id"])
    assert entry["actor"]["kind"] == "api_key" and entry["company_id"] == tenant.company["id"]
    assert {(e["action"], e["company_id"]) for e in logs["audit_logs"]} == {("user.created", tenant.company["id"])}
    assert audit(event_type="user.created", limit=1, offset=1)["audit_logs"] == logs["audit_logs"][1:2]


# --- the analytics dashboard service -----------------------------------------------------------

def _agent_with_a_conversation(gw: str, tenant: SdkTenant) -> tuple[str, str]:
    """An agent on the built-in offline provider and one conversation with it, made over plain HTTP."""
    with httpx.Client(base_url=gw, timeout=30, headers=tenant.bearer) as http:
        providers = http.get("/api/v1/providers?include_models=true").json()["providers"]
        (offline,) = [p for p in providers if p["value"] == "offline"]
        models = {m["name"]: m["id"] for m in offline["models"]}
        r = http.post("/api/v1/settings", json={
            "llm_provider_id": offline["id"], "llm_model_id": models["extractive-responder"],
            "embedding_provider_id": offline["id"], "embedding_model_id": models["offline-embedder"],
            "is_default": True})
        assert r.status_code == 201, r.text
        r = http.post("/api/v1/agent", json={"name": f"Helpdesk {uuid.uuid4().hex[:6]}"})
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        r = http.post("/api/v1/conversation", json={"agent_id": agent_id})  # at once: read-your-writes
        assert r.status_code == 201, r.text
    return agent_id, r.json()["conversation"]["id"]


def test_dashboard_agent_and_conversation_analytics_report_the_companys_activity(gw, root):
    owner = new_tenant(gw)
    agent_id, conversation_id = _agent_with_a_conversation(gw, owner)
    analytics = owner.client.analytics
    agent = eventually(lambda: analytics.get_agent_analytics(agent_id, start_date="2020-01-01"),
                       lambda a: a["conversation_metrics"]["total_conversations"] == 1)
    assert agent["agent_info"]["id"] == agent_id
    comparison = analytics.get_agent_performance_comparison(agent_id, start_date="2020-01-01")
    assert comparison["performance_comparison"]["conversations"] == {
        "agent_value": 1, "company_average": 1.0, "performance_vs_average_percent": 0.0}
    conversation = analytics.get_conversation_analytics(conversation_id)
    assert (conversation["conversation_id"], conversation["agent_id"]) == (conversation_id, agent_id)
    dashboard = analytics.get_dashboard_overview()
    assert dashboard["user_context"]["company_id"] == owner.company["id"]
    assert dashboard["core_metrics"]["conversation_count"] == 1
    named = analytics.get_dashboard_overview(company_id=owner.company["id"], headers=root)
    assert named["core_metrics"]["conversation_count"] == 1
    foreign = refused(lambda: analytics.get_lead_analytics(company_id=str(uuid.uuid4())))
    assert foreign.status_code == 404 and foreign.response_data["error"] == "company_not_found"
    leads = analytics.get_lead_analytics(start_date="2020-01-01", end_date="2100-01-01")
    assert leads["consent_analytics"]["total_leads"] == 0
    # Usage records reach analytics in batches about once a second: wait for the first ones.
    usage = eventually(lambda: analytics.get_usage_metrics(start_date="2020-01-01", end_date="2100-01-01"),
                       lambda u: u["api_usage"]["total_api_calls"] >= 1)
    assert usage["api_usage"]["total_api_calls"] >= 1
    exported = analytics.export_analytics("agents", "json")
    assert [a["id"] for a in exported["agents"]] == [agent_id]
    # Above ANALYTICS_EXPORT_INLINE_ROWS (3 in the e2e env) an export is a task; this SDK method
    # hands back its acknowledgement (docs/sdk.md) and resolve_async_task follows it to the file.
    eventually(lambda: analytics.get_usage_metrics(), lambda u: u["api_usage"]["total_api_calls"] > 3)
    ack = analytics.export_analytics("usage", "csv", start_date="2020-01-01")
    assert ack["status"] == "accepted" and ack["row_count"] > 3
    ready = owner.client.resolve_async_task(ack)
    download = httpx.get(gw + ready["download_url"],
                         headers={"X-API-Key": owner.api_key, "X-API-Secret": owner.api_secret})
    assert download.status_code == 200 and download.text.startswith("id,created_at,endpoint,method")
    assert len(download.text.strip().splitlines()) == ready["count"] + 1
    sample = analytics.trigger_system_metric_collection()  # 202 + task: the SDK polls it to the end
    assert sample["company_id"] == owner.company["id"] and "api_requests" in sample["metrics"]
    found = analytics.search_documents("refund policy", agent_id, limit=3)
    assert (found["query"], found["results"]) == ("refund policy", [])  # nothing uploaded yet
    assert refused(lambda: analytics.get_agent_analytics(str(uuid.uuid4()))).status_code == 404
