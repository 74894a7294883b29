"""Event envelope and the catalogue of events, one module per producing service."""

from knowrithm_common.events.envelope import Actor, EventData, EventEnvelope, new_event
from knowrithm_common.events.registry import event_class, registered_events

__all__ = ["Actor", "EventData", "EventEnvelope", "event_class", "new_event", "registered_events"]
