"""The conversations screen's own filters (the API has no date, rating or lead filter)."""

from __future__ import annotations

from knowrithm_console.pages.conversations import Filters, keep, verdict


def test_a_conversations_rating_is_its_latest_vote() -> None:
    assert verdict([]) == "none"
    assert verdict([{"thumbs": "down", "rating": None}, {"thumbs": "up", "rating": None}]) == "up"
    assert verdict([{"thumbs": None, "rating": 2}]) == "down"
    assert verdict([{"thumbs": None, "rating": 4}]) == "up"


def test_date_lead_and_rating_filters_keep_only_matching_conversations() -> None:
    lead = {"entity_type": "lead", "last_activity": "2026-12-07T10:00:00+00:00"}
    user = {"entity_type": "user", "last_activity": None, "created_at": "2026-12-01T10:00:00+00:00"}
    assert keep(lead, "none", Filters())
    assert keep(lead, "none", Filters(lead="yes")) and not keep(user, "none", Filters(lead="yes"))
    assert keep(user, "none", Filters(lead="no")) and not keep(lead, "none", Filters(lead="no"))
    assert keep(lead, "up", Filters(since="2026-12-07", until="2026-12-07"))
    assert not keep(lead, "up", Filters(since="2026-12-08"))
    assert not keep(user, "up", Filters(until="2026-11-30"))  # no activity yet: its creation counts
    assert keep(user, "up", Filters(since="not-a-date"))  # an unreadable date filters nothing
    assert keep(lead, "down", Filters(rating="down")) and not keep(lead, "up", Filters(rating="down"))
    assert keep(lead, "none", Filters(rating="none"))
