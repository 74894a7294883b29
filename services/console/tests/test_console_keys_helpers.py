"""The API keys screen's form reading (lane keys): what reaches the API, what is refused here."""

from __future__ import annotations

from knowrithm_console.pages.keys import NUMBERS, _body


def test_the_form_becomes_the_apis_body_with_known_scopes_and_whole_numbers():
    body, errors = _body(" Sync ", ["read", "write", "bogus"], {**NUMBERS, "expires_in_days": " 30 "})
    assert errors == {}
    assert body == {"name": "Sync", "scopes": ["read", "write"], "expires_in_days": 30}


def test_a_blank_name_no_scope_and_non_numbers_are_refused_before_any_call():
    numbers = {"expires_in_days": "soon", "rate_limit_per_hour": "²", "rate_limit_per_day": "-5"}
    _, errors = _body("  ", ["bogus"], numbers)
    assert set(errors) == {"name", "scopes", "expires_in_days", "rate_limit_per_hour", "rate_limit_per_day"}
