"""Which event types a webhook may name, and which events its patterns match.

A pattern is an exact type from the catalogue (`conversations.lead.registered.v1`), a prefix
ending in `.*` that names at least one subscribable type (`conversations.lead.*`, which also
matches versions and events added later), or `*` for every subscribable event. Jobs and
internal telemetry (`gateway.api_requests.recorded.v1`) are never delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from knowrithm_common.errors import BadRequest
from knowrithm_common.events.asyncapi import CatalogueEntry, catalogue, subscribable_events

EVERYTHING = "*"
TEST_EVENT_TYPE = "webhook.test"


class UnknownEventType(BadRequest):
    code, message = "unknown_event_type", "Unknown event type"


@cache
def subscribable() -> tuple[CatalogueEntry, ...]:
    """The events a company may subscribe to (the catalogue does not change while running)."""
    return tuple(subscribable_events())


@cache
def subscribable_types() -> frozenset[str]:
    return frozenset(entry.type for entry in subscribable())


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether any of `patterns` selects `event_type`."""
    for pattern in patterns:
        if pattern in (EVERYTHING, event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def validate_patterns(patterns: Sequence[str]) -> list[str]:
    """The patterns, trimmed and without repeats; 400 `unknown_event_type` naming the bad ones."""
    cleaned = list(dict.fromkeys(p.strip() for p in patterns if p.strip()))
    if not cleaned:
        raise UnknownEventType("Name at least one event type", detail={"unknown": []})
    known = subscribable_types()
    unknown = [p for p in cleaned if not any(matches([p], t) for t in known)]
    if unknown:
        internal = {e.type: e.internal_reason for e in catalogue() if e.type in unknown and e.internal_reason}
        message = f"Unknown event type(s): {', '.join(unknown)}"
        if internal:
            reasons = "; ".join(f"{name} ({why})" for name, why in internal.items())
            message += f"; not offered to webhooks: {reasons}"
        raise UnknownEventType(
            message + ". GET /api/v1/webhook/event-types lists the event types",
            detail={"unknown": unknown, "not_subscribable": internal},
        )
    return cleaned
