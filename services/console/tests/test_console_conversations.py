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


def _answer_html(message: dict) -> str:
    from knowrithm_console import i18n
    from knowrithm_console.web import TEMPLATES

    l10n = i18n.Localization("en", "UTC")
    i18n.current.set(l10n)
    return TEMPLATES.get_template("_answer_fragment.html").render(m=message, l10n=l10n)


def _message(**fields: object) -> dict:
    return {"id": "m1", "role": "assistant", "status": "complete", "content": "", "citations": [],
            "processing_time": 1.234, "tokens_used": 42, "error": None, "error_code": None, **fields}


def test_an_answer_shows_its_document_and_database_citations_latency_and_tokens() -> None:
    html = _answer_html(_message(content="Dock 7 loads at night. [1] There are 3 orders. [2]", citations=[
        {"source_number": 1, "document_id": "d1", "document_name": "handbook.pdf", "page": 2, "chunk_id": "c1"},
        {"source": "database", "source_number": 2, "connection_name": "Shop <db>", "dialect": "postgresql",
         "table": "orders", "tables": ["orders"], "sql": "SELECT count(*) FROM orders", "row_count": 1},
    ]))
    assert 'data-passage="/console/passage?document=d1&amp;chunk=c1"' in html
    assert "[1] handbook.pdf, page 2</button>" in html
    assert "Database Shop &lt;db&gt;, table orders" in html  # escaped: a connection's name is data
    assert "<code>SELECT count(*) FROM orders</code>" in html
    assert "Answered in 1.23 s · 42 tokens" in html
    assert "No answer in the documents" not in html


def test_an_i_dont_know_answer_is_marked_and_a_failed_one_says_why() -> None:
    html = _answer_html(_message(content="I don't know — I couldn't find that in the documents I have."))
    assert '<span class="badge badge-warn">No answer in the documents</span>' in html
    failed = _answer_html(_message(status="failed", content="", error="The model is unavailable"))
    assert "Failed</span> The model is unavailable" in failed and "Answered in" not in failed
