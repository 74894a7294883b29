"""The live event stream's hub: each open stream gets its own company's events of its types only."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from types import SimpleNamespace

from knowrithm_analytics.eventstream.hub import QUEUE_SIZE, EventHub
from knowrithm_common.events import Actor, EventEnvelope

LEAD = "conversations.lead.registered.v1"


def _event(company: uuid.UUID | None, event_type: str = LEAD, **data: object) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()), type=event_type, source="conversations", time=dt.datetime.now(dt.UTC),
        company_id=company, actor=Actor(kind="user", id=uuid.uuid4(), ip="203.0.113.9", user_agent="UA"),
        data={"lead_id": str(uuid.uuid4()), **data}, traceparent="00-abc-def-01",
    )


def _messages(listener) -> list[tuple[str, dict]]:
    found = []
    while not listener.queue.empty():
        found.append(listener.queue.get_nowait())
    return found


def _drain(listener) -> list[dict]:
    """The domain events queued for the listener."""
    return [data for name, data in _messages(listener) if name == "domain_event"]


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


async def test_a_delivery_notice_reaches_its_company_s_streams_whose_types_select_the_delivered_event() -> None:
    hub = EventHub(nats=None)  # type: ignore[arg-type] - _delivered() needs no connection
    a, b = uuid.uuid4(), uuid.uuid4()
    everything, leads, other = hub.listen(a, ["*"]), hub.listen(a, ["conversations.lead.*"]), hub.listen(b, ["*"])
    notice = {"id": str(uuid.uuid4()), "webhook_id": str(uuid.uuid4()), "company_id": str(a),
              "event_id": str(uuid.uuid4()), "event_type": "webhook.test", "status": "succeeded",
              "attempts": 1, "status_code": 200, "time": "2026-12-07T23:30:00+00:00"}
    await hub._delivered(SimpleNamespace(data=json.dumps(notice).encode(), subject="live.webhook-delivery.x"))
    await hub._delivered(SimpleNamespace(data=b"{not json", subject="live.webhook-delivery.x"))  # ignored
    assert _messages(everything) == [("webhook_delivery", notice)]
    assert _messages(leads) == [] and _messages(other) == []
