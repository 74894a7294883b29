"""Look up payload classes by event type across every catalogue module."""

from __future__ import annotations

from knowrithm_common.events import agents, analytics, auth, conversations, gateway, ingestion
from knowrithm_common.events.envelope import EventData

_CATALOGUES = (agents, analytics, auth, conversations, gateway, ingestion)


def registered_events() -> dict[str, type[EventData]]:
    """Every event type in the catalogue, by type name."""
    found: dict[str, type[EventData]] = {}
    for module in _CATALOGUES:
        for value in vars(module).values():
            # concrete payloads only: bases such as EventData and JobData name no event type
            if (
                isinstance(value, type)
                and issubclass(value, EventData)
                and isinstance(getattr(value, "event_type", None), str)
            ):
                found[value.event_type] = value
    return found


def event_class(event_type: str) -> type[EventData] | None:
    """The payload class of `event_type`, or None if it is not in the catalogue."""
    return registered_events().get(event_type)
