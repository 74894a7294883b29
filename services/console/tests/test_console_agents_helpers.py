"""The Agents screens' pure helpers: lists typed one per line, numbers as typed, widget defaults,
the form's API body (keys only when typed) and the API's errors mapped to the form's fields."""

from __future__ import annotations

from knowrithm_console import i18n
from knowrithm_console.api import ApiError
from knowrithm_console.pages.agents import (
    AgentForm,
    check_widget,
    form_errors,
    number,
    split_lines,
    widget_of,
)


def setup_module() -> None:
    i18n.current.set(i18n.Localization("en", "UTC"))


def test_lines_and_commas_split_into_unique_trimmed_entries() -> None:
    assert split_lines(" https://a.example\n\nhttps://b.example , https://a.example\r\n") == [
        "https://a.example", "https://b.example"
    ]


def test_numbers_pass_as_numbers_and_anything_else_as_typed_for_the_api_to_name() -> None:
    assert number("0.7") == 0.7 and number("512") == 512 and number("0,5") == 0.5
    assert number("") is None and number("warm") == "warm"


def test_widget_colours_fall_back_to_defaults_unless_hex_and_lead_capture_defaults_on() -> None:
    widget = widget_of({"primary_color": "red;background:url(x)", "allowed_origins": "nope"})
    assert widget["primary_color"] == "#1d4ed8" and widget["allowed_origins"] == []
    assert widget["lead_capture"] is True
    assert widget_of({"lead_capture": False, "text_color": "#000000"})["text_color"] == "#000000"


def test_origins_with_a_path_or_no_scheme_are_refused_at_their_field() -> None:
    ok = {"primary_color": "#000000", "text_color": "#ffffff", "allowed_origins": ["https://a.example:8443"]}
    assert check_widget(ok) == {}
    bad = check_widget({**ok, "allowed_origins": ["a.example", "https://a.example/path"]})
    assert "a.example, https://a.example/path" in bad["allowed_origins"]


def test_the_body_carries_keys_only_when_typed_and_ids_only_when_all_four_are_chosen() -> None:
    form = AgentForm(name="Bot", languages="en, de", llm_provider_id="p", llm_model_id="m",
                     embedding_provider_id="p", embedding_model_id="e", temperature="0.2", max_tokens="")
    body = form.body("", "", {"tone": "warm"})
    assert "llm_api_key" not in body and "embedding_api_key" not in body
    assert body["languages"] == ["en", "de"] and body["llm_temperature"] == 0.2 and "llm_max_tokens" not in body
    assert body["personality_traits"] == {"tone": "warm"}  # blank instructions are not stored
    assert form.body("sk-1", "", {})["llm_api_key"] == "sk-1"
    form.embedding_model_id = ""
    assert "llm_provider_id" not in form.body("", "", {})


def test_api_field_errors_land_on_the_forms_fields() -> None:
    exc = ApiError(422, "validation_error", "invalid", [{"loc": ["body", "llm_temperature"], "msg": "≤ 2"}])
    assert form_errors(exc) == ({"temperature": "≤ 2"}, None)
    taken = ApiError(409, "agent_name_taken", "An agent with this name exists")
    assert form_errors(taken) == ({"name": "An agent with this name exists"}, None)
    other = ApiError(400, "settings_required", "No settings")
    assert form_errors(other) == ({}, "No settings")
