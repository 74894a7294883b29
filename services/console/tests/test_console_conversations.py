"""The conversations screen: its filters as the API takes them, its ratings, an answer's rendering."""

from __future__ import annotations

from knowrithm_console.pages.conversations import Filters, verdict


def test_a_conversations_rating_is_its_latest_vote() -> None:
    assert verdict([]) == "none"
    assert verdict([{"thumbs": "down", "rating": None}, {"thumbs": "up", "rating": None}]) == "up"
    assert verdict([{"thumbs": None, "rating": 2}]) == "down"
    assert verdict([{"thumbs": None, "rating": 4}]) == "up"


def test_the_filters_go_to_the_api_as_its_parameters_and_bad_values_are_dropped() -> None:
    f = Filters.of("nope", "2026-12-08", "2026-12-01", "positive", "with", "")
    assert f.params() == {"from": "2026-12-01", "to": "2026-12-08", "rating": "positive", "lead": "with"}
    f = Filters.of("3f1c8d2e-9a4b-4c6d-8e7f-0a1b2c3d4e5f", "soon", "", "great", "maybe", "deleted")
    assert f.params() == {"agent_id": "3f1c8d2e-9a4b-4c6d-8e7f-0a1b2c3d4e5f"} and f.deleted


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
    html = _answer_html(_message(content="I don't know — I couldn't find that in the documents I have.",
                                 metadata={"answer_found": False}))
    assert '<span class="badge badge-warn">No answer in the documents</span>' in html
    # the API's flag decides, not the wording: a model's answer in other words is marked too
    assert "No answer in the documents" in _answer_html(_message(content="Sorry, no idea.",
                                                                 metadata={"answer_found": False}))
    assert "No answer in the documents" not in _answer_html(_message(content="I don't know why, but yes.",
                                                                     metadata={"answer_found": True}))
    failed = _answer_html(_message(status="failed", content="", error="The model is unavailable"))
    assert "Failed</span> The model is unavailable" in failed and "Answered in" not in failed
