"""The platform screens' own logic: numbers as people write them, the import's rows, health changes."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from knowrithm_console.api import ApiError
from knowrithm_console.pages.platform_forms import FieldError, amount, refusals, whole
from knowrithm_console.pages.platform_import import Unreadable, read_catalogue, rows_of
from knowrithm_console.pages.system import changes, config_rows, metric_rows, shown_value


@pytest.mark.parametrize(("typed", "number"), [
    ("128000", 128000), ("128,000", 128000), ("128.000", 128000), ("1 048 576", 1048576), ("", None),
])
def test_whole_numbers_are_read_grouped_or_not(typed: str, number: int | None) -> None:
    assert whole(FormData({"n": typed}), "n") == number


@pytest.mark.parametrize("typed", ["lots", "1.5", "12,34"])
def test_a_field_that_is_not_a_whole_number_is_refused_at_that_field(typed: str) -> None:
    with pytest.raises(FieldError) as refused:
        whole(FormData({"context_length": typed}), "context_length")
    assert refused.value.field == "context_length"


def test_decimal_amounts_take_a_comma_or_a_point() -> None:
    assert amount(FormData({"p": "0,5"}), "p") == amount(FormData({"p": "0.5"}), "p") == 0.5
    with pytest.raises(FieldError):
        amount(FormData({"p": "cheap"}), "p")


def test_the_apis_refusal_lands_at_its_field_or_a_conflict_at_the_field_it_concerns() -> None:
    invalid = ApiError(422, "validation_error", "Invalid", [{"loc": ["body", "label"], "msg": "too short"}])
    assert refusals(invalid, {"label"}) == ({"label": "too short"}, None)
    conflict = ApiError(409, "provider_exists", "A provider with this value already exists")
    assert refusals(conflict, {"value"}, conflicts={"provider_exists": "value"}) == (
        {"value": "A provider with this value already exists"}, None)
    unplaced = ApiError(409, "other", "Something else")
    assert refusals(unplaced, {"value"}) == ({}, "Something else")


def test_the_import_reads_a_list_or_an_object_and_names_each_refused_row() -> None:
    rows = read_catalogue('{"providers": [{"value": "a"}, {"value": "b", "label": "B"}]}')
    assert read_catalogue('[{"value": "a"}]') == [{"value": "a"}]
    with pytest.raises(Unreadable):
        read_catalogue("{not json")
    with pytest.raises(Unreadable):
        read_catalogue('{"providers": []}')
    refusal = ApiError(422, "validation_error", "Invalid", [
        {"loc": ["body", "providers", 1, "models", 0, "embedding_dimension"], "msg": "required"}])
    found, general = rows_of(rows, refusal)
    assert general == [] and found[0].problems == []
    assert (found[1].number, found[1].name, found[1].problems) == (2, "B", ["models[1].embedding_dimension: required"])


def test_configuration_rows_put_the_platform_keys_first_and_never_show_a_sensitive_value() -> None:
    body = {"known_keys": [{"config_key": "max_file_size", "config_type": "integer"}],
            "configs": [{"config_key": "smtp_password", "config_type": "string", "config_value": "s3cret",
                         "is_sensitive": True, "is_masked": False},
                        {"config_key": "max_file_size", "config_type": "integer", "config_value": 2048,
                         "is_sensitive": False, "is_masked": False}]}
    rows = config_rows(body)
    assert [r["key"] for r in rows] == ["max_file_size", "smtp_password"]
    assert shown_value(rows[0]) == "2048" and shown_value(rows[1]) == ""


def test_health_changes_are_said_only_when_a_status_changed() -> None:
    report = {"services": [{"name": "auth", "status": "up"}, {"name": "analytics", "status": "down"}]}
    assert changes("", report) == []  # the first look: nothing to announce
    assert changes("auth=up,analytics=down", report) == []
    assert changes("auth=up,analytics=up", report) == ["analytics is now Down."]


def test_metrics_show_each_series_latest_value_and_its_number_of_samples() -> None:
    body = {"metrics": {"api_requests": [
        {"labels": {"company_id": "c"}, "timestamp": "2026-01-01T00:00:00+00:00", "value": 3},
        {"labels": {"company_id": "c"}, "timestamp": "2026-01-01T00:05:00+00:00", "value": 5}]}}
    assert metric_rows(body) == [{"name": "api_requests", "labels": "", "value": 5,
                                  "at": "2026-01-01T00:05:00+00:00", "samples": 2}]


def _health_fragment(report: dict, previous: str) -> str:
    from knowrithm_console import i18n
    from knowrithm_console.pages.system import PROBLEMS, STATUSES, _signature
    from knowrithm_console.web import TEMPLATES

    return TEMPLATES.get_template("_platform_health.html").render(
        l10n=i18n.Localization("en", "UTC"), report=report, signature=_signature(report),
        changed=changes(previous, report), statuses=STATUSES, problems=PROBLEMS)


def test_a_polled_health_table_announces_a_change_out_of_band_and_says_nothing_otherwise() -> None:
    report = {"status": "degraded", "checked_at": "2026-12-07T22:00:00+00:00", "services": [
        {"name": "auth", "status": "up", "checks": {"database": "ok"}, "response_ms": 3.5, "error": None},
        {"name": "analytics", "status": "down", "checks": {}, "response_ms": 2000.0, "error": "unreachable"}]}
    changed = _health_fragment(report, "auth=up,analytics=up")
    assert '<div id="health-announce" hx-swap-oob="innerHTML"><p>analytics is now Down.</p></div>' in changed
    assert "Some services are not up." in changed and "Not reachable" in changed
    assert "previous=auth%3Dup%2Canalytics%3Ddown" in changed  # the next poll compares with this
    assert "health-announce" not in _health_fragment(report, "auth=up,analytics=down")
