"""The event catalogue as an AsyncAPI 3.0 document, built from the pydantic payload models.

    python -m knowrithm_common.events.asyncapi > docs/asyncapi.json
    python -m knowrithm_common.events.asyncapi --markdown   # the table in docs/events.md
    python -m knowrithm_common.events.asyncapi --write docs # both, in place

Every event is a channel `events.<type>` on the EVENTS stream, every job a channel
`jobs.<type>` on the JOBS work queue; each message is the envelope (`EventEnvelope`) whose
`data` holds the payload model of its type. The catalogue also says which events companies
may subscribe to with webhooks (jobs never; internal telemetry neither, see `INTERNAL_EVENTS`).

Why not FastStream's generator: FastStream builds its document from the publishers and
subscribers declared on a FastStream broker, and our producers publish through the outbox
relay with nats-py (docs/architecture.md), so every one of the ~40 subjects would have to be
declared a second time on a broker that never connects, only to be read back. It would also
describe the payload models as the message, not the envelope they travel in, and knows
nothing of jobs versus events or of the webhook catalogue. FastStream is not a dependency
either. Walking `registered_events()` and asking pydantic for the JSON schemas is the small
amount of code below.
"""

from __future__ import annotations

import argparse
import builtins
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from knowrithm_common.events.envelope import SUBJECT_PREFIX, Actor, EventData, EventEnvelope
from knowrithm_common.events.ingestion import JOB_SUBJECT_PREFIX, JobData
from knowrithm_common.events.registry import registered_events

ASYNCAPI_VERSION = "3.0.0"
CATALOGUE_VERSION = "1.0.0"
_REF = "#/components/schemas/{model}"

# Events that stay inside the platform: not offered to webhooks, with the reason shown to users.
INTERNAL_EVENTS: dict[str, str] = {
    "gateway.api_requests.recorded.v1": (
        "usage telemetry: a batch of every API request about once a second; "
        "use the API-usage analytics instead"
    ),
    "auth.api_key.revoked.v1": (
        "carries the revoked key's hash for the gateway's cache; "
        "the audit log's api_key.revoked entry (auth.audit.recorded.v1) tells integrations instead"
    ),
    "auth.system_config.changed.v1": (
        "platform-wide, no company's event: super admins find each change in the audit log "
        "(system_config.changed)"
    ),
}


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One event or job type of the catalogue."""

    type: str
    model: builtins.type[EventData]  # `type` is the field above inside this class

    @property
    def is_job(self) -> bool:
        return issubclass(self.model, JobData)

    @property
    def subject(self) -> str:
        return self.model.subject()

    @property
    def stream(self) -> str:
        return "JOBS" if self.is_job else "EVENTS"

    @property
    def source(self) -> str:
        """The producing service (the type's first part)."""
        return self.type.split(".", 1)[0]

    @property
    def description(self) -> str:
        """The model's own docstring (an inherited one does not count), on one line."""
        return " ".join((self.model.__dict__.get("__doc__") or "").split())

    @property
    def internal_reason(self) -> str | None:
        """Why companies cannot subscribe to it, or None when they can."""
        if self.is_job:
            return "a job (work for one service's workers), not an event"
        return INTERNAL_EVENTS.get(self.type)

    @property
    def subscribable(self) -> bool:
        return self.internal_reason is None

    def payload_schema(self) -> dict[str, Any]:
        """The JSON schema of `data`, self-contained (`$defs` kept inline)."""
        return self.model.model_json_schema(mode="serialization")


def catalogue() -> list[CatalogueEntry]:
    """Every event and job type, sorted by type."""
    return [CatalogueEntry(name, model) for name, model in sorted(registered_events().items())]


def subscribable_events() -> list[CatalogueEntry]:
    """The events a company may subscribe to with a webhook."""
    return [entry for entry in catalogue() if entry.subscribable]


# --- the AsyncAPI document ----------------------------------------------------------------


class _Schemas:
    """components/schemas: every model once, nested models hoisted from `$defs`."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def add(self, model: type[BaseModel]) -> str:
        schema = model.model_json_schema(mode="serialization", ref_template=_REF)
        for name, nested in schema.pop("$defs", {}).items():
            self._put(name, nested)
        return self._put(model.__name__, schema)

    def _put(self, name: str, schema: dict[str, Any]) -> str:
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different models are named {name}; rename one")
        return name


def _message(entry: CatalogueEntry, payload: str) -> dict[str, Any]:
    return {
        "name": entry.type,
        "title": entry.model.__name__,
        "summary": entry.description,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "Nats-Msg-Id": {"type": "string", "description": "the envelope id (JetStream dedupe)"},
                "traceparent": {"type": "string", "description": "W3C trace context of the producer"},
            },
        },
        "payload": {
            "allOf": [
                {"$ref": _REF.format(model=EventEnvelope.__name__)},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": entry.type},
                        "data": {"$ref": _REF.format(model=payload)},
                    },
                },
            ]
        },
        "x-knowrithm-kind": "job" if entry.is_job else "event",
        "x-knowrithm-webhooks": entry.subscribable,
    }


def _channel(entry: CatalogueEntry) -> dict[str, Any]:
    note = f"{entry.stream} stream"
    if entry.internal_reason:
        note += f"; not offered to webhooks ({entry.internal_reason})"
    return {
        "address": entry.subject,
        "title": entry.type,
        "description": f"{entry.description} ({note}.)",
        "messages": {entry.type: {"$ref": f"#/components/messages/{entry.type}"}},
    }


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event and job."""
    schemas = _Schemas()
    schemas.add(Actor)
    schemas.add(EventEnvelope)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for entry in catalogue():
        payload = schemas.add(entry.model)
        messages[entry.type] = _message(entry, payload)
        channels[entry.type] = _channel(entry)
        operations[entry.type] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{entry.type}"},
            "summary": f"{entry.source} publishes {entry.type}",
            "messages": [{"$ref": f"#/channels/{entry.type}/messages/{entry.type}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Knowrithm events",
            "version": CATALOGUE_VERSION,
            "description": (
                f"Facts the services publish on the EVENTS stream (`{SUBJECT_PREFIX}<type>`) and work "
                f"they queue on the JOBS work queue (`{JOB_SUBJECT_PREFIX}<type>`), each in the same "
                "envelope. A breaking change makes a new version (`.v2`), never an edit. See docs/events.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "NATS JetStream (NATS_URL); streams EVENTS (events.>), JOBS (jobs.>)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.schemas},
    }


def render() -> str:
    """The document as the JSON text kept in docs/asyncapi.json."""
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"


TABLE_BEGIN, TABLE_END = "<!-- catalogue:begin -->", "<!-- catalogue:end -->"


def markdown_table() -> str:
    """The catalogue table of docs/events.md (between TABLE_BEGIN and TABLE_END there)."""
    lines = ["| type | subject | webhooks | description |", "|---|---|---|---|"]
    for entry in catalogue():
        webhooks = "yes" if entry.subscribable else "no"
        description = entry.description.replace("|", "\\|")
        lines.append(f"| `{entry.type}` | `{entry.subject}` | {webhooks} | {description} |")
    return "\n".join(lines) + "\n"


def with_table(markdown: str) -> str:
    """`markdown` (docs/events.md) with the catalogue table between its markers replaced."""
    head, begin, rest = markdown.partition(TABLE_BEGIN)
    _, end, tail = rest.partition(TABLE_END)
    if not begin or not end:
        raise ValueError(f"docs/events.md has no {TABLE_BEGIN} ... {TABLE_END} markers")
    return f"{head}{TABLE_BEGIN}\n{markdown_table()}{TABLE_END}{tail}"


def write_docs(docs: Path) -> None:
    """Regenerate docs/asyncapi.json and the table in docs/events.md."""
    (docs / "asyncapi.json").write_text(render(), encoding="utf-8")
    events = docs / "events.md"
    events.write_text(with_table(events.read_text(encoding="utf-8")), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the event catalogue (AsyncAPI JSON by default).")
    parser.add_argument("--markdown", action="store_true", help="print the table of docs/events.md instead")
    parser.add_argument("--write", metavar="DOCS_DIR", type=Path,
                        help="regenerate DOCS_DIR/asyncapi.json and the table in DOCS_DIR/events.md")
    args = parser.parse_args(argv)
    if args.write:
        write_docs(args.write)
    else:
        sys.stdout.write(markdown_table() if args.markdown else render())


if __name__ == "__main__":
    main()
