"""The live event stream's hub: each open stream gets its own company's events of its types only."""

from __future__ import annotations

import datetime as dt
import uuid

from knowrithm_analytics.eventstream.hub import QUEUE_SIZE, EventHub
from knowrithm_common.events import Actor, EventEnvelope

LEAD = "conversations.lead.registered.v1"


def _event(company: uuid.UUID | None, event_type: str = LEAD, **data: object) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()), type=event_type, source="conversations", time=dt.datetime.now(dt.UTC),
        company_id=company, actor=Actor(kind="user", id=uuid.uuid4(), ip="203.0.113.9", user_agent="UA"),
        data={"lead_id": str(uuid.uuid4()), **data}, traceparent="00-abc-def-01",
    )


def _drain(listener) -> list[dict]:
    found = []
    while not listener.queue.empty():
        found.append(listener.queue.get_nowait())
    return found


def test_an_event_reaches_only_its_company_s_streams_of_matching_types_without_private_fields() -> None:
    hub = EventHub(nats=None)  # type: ignore[arg-type] - publish() needs no connection
    a, b = uuid.uuid4(), uuid.uuid4()
    everything, leads, agents_only, other = (
        hub.listen(a, ["*"]), hub.listen(a, ["conversations.lead.*"]), hub.listen(a, ["agents.*"]), hub.listen(b, ["*"])
    )
    event = _event(a)
    hub.publish(event)
    hub.publish(event)  # a relay's resend is shown once
    hub.publish(_event(None))  # platform events (no company) go nowhere
    hub.publish(_event(a, "gateway.api_requests.recorded.v1"))  # internal telemetry: never
    (got,) = _drain(everything)
    assert got["id"] == event.id and "traceparent" not in got and "ip" not in got["actor"]
    assert [e["id"] for e in _drain(leads)] == [event.id]
    assert _drain(agents_only) == [] and _drain(other) == []


def test_a_slow_stream_loses_its_oldest_events_and_counts_them_and_a_closed_one_gets_nothing() -> None:
    hub = EventHub(nats=None)  # type: ignore[arg-type]
    company = uuid.uuid4()
    slow, closed = hub.listen(company, ["*"]), hub.listen(company, ["*"])
    hub.forget(closed)
    events = [_event(company) for _ in range(QUEUE_SIZE + 3)]
    for event in events:
        hub.publish(event)
    kept = _drain(slow)
    assert slow.dropped == 3 and [e["id"] for e in kept] == [e.id for e in events[3:]]
    assert _drain(closed) == []
