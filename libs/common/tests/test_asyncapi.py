"""The published event catalogue (docs/asyncapi.json, docs/events.md) matches the models."""

from __future__ import annotations

import json
from pathlib import Path

from knowrithm_common.events.asyncapi import (
    build_document,
    catalogue,
    markdown_table,
    render,
    subscribable_events,
    with_table,
)

DOCS = Path(__file__).resolve().parents[3] / "docs"
REGENERATE = "run: python3 -m uv run --frozen python -m knowrithm_common.events.asyncapi --write docs"


def test_docs_asyncapi_json_is_current():
    assert (DOCS / "asyncapi.json").read_text(encoding="utf-8") == render(), f"docs/asyncapi.json is stale; {REGENERATE}"


def test_docs_events_md_catalogue_table_is_current():
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    assert with_table(text) == text, f"the catalogue table in docs/events.md is stale; {REGENERATE}"


def test_every_event_and_job_has_its_own_description():
    missing = [entry.type for entry in catalogue() if not entry.description]
    assert not missing, f"give these payload classes a docstring (it is their catalogue description): {missing}"


def test_every_type_is_a_channel_on_its_stream_with_its_payload_schema():
    doc = build_document()
    entries = catalogue()
    assert doc["asyncapi"] == "3.0.0" and len(entries) >= 30
    for entry in entries:
        channel = doc["channels"][entry.type]
        prefix = "jobs." if entry.is_job else "events."
        assert channel["address"] == prefix + entry.type == entry.subject
        message = doc["components"]["messages"][entry.type]
        envelope_ref, data = message["payload"]["allOf"]
        assert envelope_ref == {"$ref": "#/components/schemas/EventEnvelope"}
        assert data["properties"]["type"] == {"const": entry.type}
        schema_name = data["properties"]["data"]["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][schema_name]
        assert set(schema["properties"]) == set(entry.model.model_fields), entry.type
        assert doc["operations"][entry.type]["channel"] == {"$ref": f"#/channels/{entry.type}"}
    envelope = doc["components"]["schemas"]["EventEnvelope"]
    assert {"id", "type", "source", "time", "company_id", "actor", "data", "traceparent"} <= set(envelope["properties"])


def test_every_reference_in_the_document_resolves():
    doc = build_document()
    refs: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"unresolved {ref}"
            target = target[part]


def test_webhooks_get_events_but_not_jobs_or_usage_telemetry():
    subscribable = {entry.type for entry in subscribable_events()}
    assert "conversations.lead.registered.v1" in subscribable
    assert "gateway.api_requests.recorded.v1" not in subscribable
    assert not [entry.type for entry in catalogue() if entry.is_job and entry.type in subscribable]
    assert "| `gateway.api_requests.recorded.v1` | `events.gateway.api_requests.recorded.v1` | no |" in markdown_table()
    assert json.loads(render())["components"]["messages"]["gateway.api_requests.recorded.v1"][
        "x-knowrithm-webhooks"
    ] is False
