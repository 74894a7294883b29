"""The Leads screen's pure helpers: filters as the API takes them, and the navigation by role."""

from __future__ import annotations

from knowrithm_console.pages.leads import PER_PAGE, Filters
from knowrithm_console.sessions import Session, Tokens, User
from knowrithm_console.web import NAV, nav_for


def test_filters_send_only_known_values_to_the_api():
    agent = "0b6f2a4c-8d0e-4c55-9d1b-3f7f0a1c2d3e"
    assert Filters.of("contacted", agent, "  Ada ", 2).params() == {
        "page": 2, "per_page": PER_PAGE, "status": "contacted", "agent_id": agent, "search": "Ada"}
    # an unknown status, a malformed agent id and blank search are dropped, not sent (no API 422)
    assert Filters.of("won", "not-a-uuid", "   ", 0).params() == {"page": 1, "per_page": PER_PAGE}


def test_the_pager_keeps_the_filters():
    assert Filters.of("new", "", "a&b", 1).query(2) == "page=2&status=new&search=a%26b"


def _session(role: str | None) -> Session:
    session = Session(id="x", csrf="y")
    if role is not None:
        session.tokens = Tokens("a", "r", 0)
        session.user = User(id="u", email="e@example.com", name="E", role=role)
    return session


def test_admin_only_screens_are_absent_for_plain_users_and_everything_for_the_signed_out():
    def labels(role: str | None) -> list[str]:
        return [item.label for item in nav_for(_session(role))]

    assert labels("super_admin") == [item.label for item in NAV]
    assert labels("admin") == [item.label for item in NAV if not item.super_admin_only]
    assert labels("user") == ["Home", "Agents", "Knowledge", "Playground", "Conversations"]
    admin = {"Leads", "Analytics", "Knowledge gaps", "Members", "API keys", "Company", "Audit log", "Webhooks",
             "Live events"}
    assert admin <= set(labels("admin")) and not admin & set(labels("user"))
    platform = {"Companies", "Users", "Providers and models", "Configuration", "Platform health",
                "System metrics"}
    assert platform <= set(labels("super_admin")) and not platform & set(labels("admin"))
    assert nav_for(_session(None)) == ()
