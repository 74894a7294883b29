"""Lane superco's pure helpers: the audit log's filters, and impersonation kept in the session."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from knowrithm_console.pages.audit import PER_PAGE, Filters
from knowrithm_console.sessions import Impersonation, Session, Tokens, User

ADA = "0b6f2a4c-8d0e-4c55-9d1b-3f7f0a1c2d3e"


def test_audit_dates_are_whole_days_in_the_users_zone():
    filters = Filters(actor=ADA, action="company.*", risk="high", start="2026-12-01", end="2026-12-07")
    assert filters.params(ZoneInfo("Europe/Berlin")) == {
        "page": 1, "per_page": PER_PAGE, "actor_id": ADA, "action": "company.*", "risk_level": "high",
        "start_date": "2026-12-01T00:00:00+01:00", "end_date": "2026-12-08T00:00:00+01:00",
    }
    assert filters.errors == {}


def test_audit_filters_it_cannot_send_are_errors_by_field():
    filters = Filters(actor="someone", risk="extreme", start="2026-13-45", end="")
    filters.params(ZoneInfo("UTC"))
    assert set(filters.errors) == {"actor", "risk", "start"}
    backwards = Filters(start="2026-12-07", end="2026-12-01")
    backwards.params(ZoneInfo("UTC"))
    assert list(backwards.errors) == ["end"]
    assert Filters(action="user.login", page=3).query(2) == "action=user.login&page=2"


def _acting(expires_at: float) -> Session:
    own = User(id="s", email="root@example.com", name="Root", role="super_admin")
    session = Session(id="x", csrf="y", user=User(id="u", email="ada@example.com", name="Ada", role="user"),
                      tokens=Tokens("acting", None, expires_at))
    session.impersonation = Impersonation(user=own, tokens=Tokens("own", "refresh", time.time() + 900))
    return session


def test_the_own_session_waits_aside_in_redis_and_comes_back():
    session = _acting(time.time() + 900)
    loaded = Session.load("x", session.dump())
    assert loaded.impersonation is not None and loaded.impersonation.user.name == "Root"
    assert loaded.user is not None and loaded.user.name == "Ada" and not loaded.impersonation_over
    loaded.end_impersonation()
    assert loaded.impersonation is None and loaded.user is not None and loaded.user.name == "Root"
    assert loaded.tokens is not None and loaded.tokens.access_token == "own"


def test_an_acting_token_past_its_expiry_is_over_and_plain_sessions_never_are():
    assert _acting(time.time() - 1).impersonation_over
    plain = Session(id="x", csrf="y", tokens=Tokens("a", "r", 0))
    assert not plain.impersonation_over
